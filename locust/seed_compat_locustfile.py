"""Posts the way the early locustfiles did, to keep the ingress compatible with them.

FastHttpUser, one random case per request, `self.client.post("/", data=json.dumps(record))`
and NO Content-Type header. Default Locust success rules (any 2xx is a success).

    locust -f locust/seed_compat_locustfile.py -H http://127.0.0.1:8080 --headless -u 4 -r 4 -t 10s
"""

import json
import random

from locust import FastHttpUser, between, task

departments = [
    "Alta Verapaz", "Baja Verapaz", "Chimaltenango", "Chiquimula", "El Progreso", "Escuintla",
    "Guatemala", "Huehuetenango", "Izabal", "Jalapa", "Jutiapa", "Petén", "Quetzaltenango",
    "Quiché", "Retalhuleu", "Sacatepéquez", "San Marcos", "Santa Rosa", "Sololá",
    "Suchitepéquez", "Totonicapán", "Zacapa",
]
names = ["Pablo", "Ana", "Luis", "María", "Carlos", "Sofía", "Jorge", "Lucía", "Diego", "Rosa"]
surnames = ["García", "López", "Pérez", "Morales", "Hernández", "Castillo", "Mejía", "Cruz"]


class InfectedUser(FastHttpUser):
    wait_time = between(0.01, 0.05)

    @task
    def post_case(self):
        record = {
            "name": random.choice(names) + " " + random.choice(surnames),
            "location": random.choice(departments),
            "age": random.randint(0, 100),
            "infectedtype": random.choice(["imported", "non-imported", "communitary"]),
            "state": random.choice(["symptomatic", "asymptomatic"]),
        }
        self.client.post("/", data=json.dumps(record))
