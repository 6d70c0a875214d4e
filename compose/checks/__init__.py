"""The parts of compose/validate.py that do not depend on brokerbench's own contract."""
