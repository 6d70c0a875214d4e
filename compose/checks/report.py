"""Problems found, printed as they are found and counted at the end."""

problems: list[str] = []


def problem(msg: str) -> None:
    problems.append(msg)
    print(f"  FAIL {msg}")
