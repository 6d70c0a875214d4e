"""Infection cases for brokerbench load tests: deterministic generation and replay files.

A case is exactly ``{"name": str, "location": str, "age": int, "infectedtype": str, "state": str}``.

This module does not import Locust, so tests and scripts can use it on their own::

    python locust/cases.py --seed 7 --count 1000 > cases.json   # a replay file for --cases-file
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any, Iterable

CASE_FIELDS = ("name", "location", "age", "infectedtype", "state")
INFECTED_TYPES = ("imported", "non-imported", "communitary")
STATES = ("symptomatic", "asymptomatic")
AGE_MIN, AGE_MAX = 0, 100

# The 22 departments of Guatemala, weighted roughly by population (hundreds of thousands),
# so that most cases land in Guatemala department, as real reports did.
DEPARTMENTS: tuple[tuple[str, float], ...] = (
    ("Alta Verapaz", 13.0),
    ("Baja Verapaz", 3.0),
    ("Chimaltenango", 6.6),
    ("Chiquimula", 4.2),
    ("El Progreso", 1.8),
    ("Escuintla", 8.0),
    ("Guatemala", 35.0),
    ("Huehuetenango", 13.0),
    ("Izabal", 4.1),
    ("Jalapa", 3.5),
    ("Jutiapa", 4.9),
    ("Petén", 5.5),
    ("Quetzaltenango", 9.0),
    ("Quiché", 10.0),
    ("Retalhuleu", 3.3),
    ("Sacatepéquez", 3.3),
    ("San Marcos", 11.0),
    ("Santa Rosa", 4.0),
    ("Sololá", 4.2),
    ("Suchitepéquez", 5.5),
    ("Totonicapán", 4.2),
    ("Zacapa", 2.5),
)
LOCATIONS = tuple(d for d, _ in DEPARTMENTS)
_LOCATION_WEIGHTS = tuple(w for _, w in DEPARTMENTS)

FIRST_NAMES_F = (
    "María", "Ana", "Rosa", "Carmen", "Lucía", "Sofía", "Isabel", "Gabriela", "Andrea", "Daniela",
    "Fernanda", "Valeria", "Alejandra", "Claudia", "Mónica", "Patricia", "Marisol", "Jimena",
    "Paola", "Silvia", "Juana", "Elena", "Victoria", "Natalia", "Rocío", "Ingrid", "Lesbia",
)
FIRST_NAMES_M = (
    "José", "Juan", "Carlos", "Luis", "Jorge", "Miguel", "Pedro", "Mario", "Francisco", "Diego",
    "Alejandro", "Fernando", "Manuel", "Ricardo", "Sergio", "Héctor", "Óscar", "Edgar", "Byron",
    "Marvin", "Rodrigo", "Andrés", "Javier", "Erick", "Otto", "Julio", "Rubén",
)
SURNAMES = (
    "García", "López", "Pérez", "Hernández", "González", "Rodríguez", "Morales", "Martínez",
    "Ramírez", "Castillo", "Mejía", "Cruz", "Ruiz", "Chávez", "Juárez", "Reyes", "Orellana",
    "Méndez", "Gómez", "Díaz", "Vásquez", "Sánchez", "Álvarez", "Ramos", "Marroquín", "Barrios",
    "Estrada", "Monterroso", "Aguilar", "Recinos", "Godoy", "Fuentes", "Samayoa", "Ordóñez",
    "Cifuentes", "Ajcú", "Tzul", "Xicará", "Cojtí", "Pop", "Caal", "Coc", "Choc", "Tut", "Xol",
)


class CaseGenerator:
    """Deterministic stream of realistic cases: the same seed gives the same cases, in order.

    ``seed`` may be an int or a str (str seeds are stable across processes and Python runs).
    """

    def __init__(self, seed: int | str = 0) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def name(self) -> str:
        rng = self._rng
        first = FIRST_NAMES_F if rng.random() < 0.5 else FIRST_NAMES_M
        given = rng.choice(first)
        if rng.random() < 0.45:  # a second given name, as is common
            second = rng.choice(first)
            if second != given:
                given = f"{given} {second}"
        return f"{given} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"

    def case(self) -> dict[str, Any]:
        rng = self._rng
        name = self.name()
        location = rng.choices(LOCATIONS, weights=_LOCATION_WEIGHTS)[0]
        # adults dominate, children and the very old are rarer; always within 0..100
        age = min(AGE_MAX, max(AGE_MIN, int(rng.triangular(AGE_MIN, AGE_MAX + 1, 32))))
        infectedtype = rng.choices(INFECTED_TYPES, weights=(1, 3, 6))[0]
        state = rng.choices(STATES, weights=(7, 3))[0]
        return {"name": name, "location": location, "age": age, "infectedtype": infectedtype, "state": state}

    def cases(self, n: int) -> list[dict[str, Any]]:
        return [self.case() for _ in range(n)]

    def __iter__(self):
        while True:
            yield self.case()


def generate(seed: int | str, n: int) -> list[dict[str, Any]]:
    """The first ``n`` cases of the stream for ``seed``."""
    return CaseGenerator(seed).cases(n)


def validate_case(obj: Any, where: str = "case") -> dict[str, Any]:
    """Raise ValueError unless ``obj`` has exactly the case shape and allowed values."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected an object, got {type(obj).__name__}")
    keys = set(obj)
    if keys != set(CASE_FIELDS):
        missing = sorted(set(CASE_FIELDS) - keys)
        extra = sorted(keys - set(CASE_FIELDS))
        raise ValueError(f"{where}: fields must be exactly {list(CASE_FIELDS)} (missing {missing}, extra {extra})")
    if not isinstance(obj["name"], str) or not obj["name"].strip():
        raise ValueError(f"{where}: name must be a non-empty string")
    if not isinstance(obj["location"], str) or not obj["location"].strip():
        raise ValueError(f"{where}: location must be a non-empty string")
    age = obj["age"]
    if isinstance(age, bool) or not isinstance(age, int) or not AGE_MIN <= age <= AGE_MAX:
        raise ValueError(f"{where}: age must be an integer in {AGE_MIN}..{AGE_MAX}, got {age!r}")
    if obj["infectedtype"] not in INFECTED_TYPES:
        raise ValueError(f"{where}: infectedtype must be one of {list(INFECTED_TYPES)}, got {obj['infectedtype']!r}")
    if obj["state"] not in STATES:
        raise ValueError(f"{where}: state must be one of {list(STATES)}, got {obj['state']!r}")
    return obj


def load_cases(path: str) -> list[dict[str, Any]]:
    """Load and validate a replay file: a JSON array of cases."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: expected a non-empty JSON array of cases")
    return [validate_case(c, f"{path}[{i}]") for i, c in enumerate(data)]


def request_body(batch: list[dict[str, Any]]) -> bytes:
    """The request body for a batch: one case as an object, several as an array."""
    body: Any = batch[0] if len(batch) == 1 else batch
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _main(argv: Iterable[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write deterministic infection cases as a JSON array (a --cases-file).")
    p.add_argument("--seed", default="0", help="generator seed (default 0)")
    p.add_argument("--count", "-n", type=int, default=100, help="number of cases (default 100)")
    args = p.parse_args(list(argv) if argv is not None else None)
    seed: int | str = int(args.seed) if args.seed.lstrip("-").isdigit() else args.seed
    json.dump(generate(seed, args.count), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
