//! Deterministic, realistic infection cases for load generation: the same seed always yields
//! the same sequence, so two runs (or two middlewares) can be fed identical traffic.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::case::{Case, INFECTED_TYPES, STATES};

/// The 22 departments of Guatemala.
pub const DEPARTMENTS: [&str; 22] = [
    "Alta Verapaz",
    "Baja Verapaz",
    "Chimaltenango",
    "Chiquimula",
    "El Progreso",
    "Escuintla",
    "Guatemala",
    "Huehuetenango",
    "Izabal",
    "Jalapa",
    "Jutiapa",
    "Petén",
    "Quetzaltenango",
    "Quiché",
    "Retalhuleu",
    "Sacatepéquez",
    "San Marcos",
    "Santa Rosa",
    "Sololá",
    "Suchitepéquez",
    "Totonicapán",
    "Zacapa",
];

const GIVEN: [&str; 20] = [
    "María", "José", "Ana", "Juan", "Lucía", "Carlos", "Sofía", "Luis", "Rosa", "Pedro", "Carmen",
    "Miguel", "Elena", "Jorge", "Marta", "Diego", "Isabel", "Fernando", "Andrea", "Mario",
];

const FAMILY: [&str; 20] = [
    "López",
    "García",
    "Pérez",
    "Hernández",
    "González",
    "Rodríguez",
    "Morales",
    "Martínez",
    "Ramírez",
    "Castillo",
    "Méndez",
    "Juárez",
    "Cruz",
    "Gómez",
    "Xoy",
    "Ajú",
    "Cux",
    "Tzoc",
    "Chávez",
    "Reyes",
];

/// An endless, reproducible stream of valid cases.
pub struct CaseGenerator {
    rng: ChaCha8Rng,
}

impl CaseGenerator {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub fn next_case(&mut self) -> Case {
        let pick =
            |rng: &mut ChaCha8Rng, list: &[&str]| list[rng.random_range(0..list.len())].to_owned();
        let name = format!(
            "{} {} {}",
            pick(&mut self.rng, &GIVEN),
            pick(&mut self.rng, &FAMILY),
            pick(&mut self.rng, &FAMILY)
        );
        Case {
            name,
            location: pick(&mut self.rng, &DEPARTMENTS),
            age: self.rng.random_range(0..=100),
            infectedtype: pick(&mut self.rng, &INFECTED_TYPES),
            state: pick(&mut self.rng, &STATES),
        }
    }

    /// The JSON body of one request: an object for one case, an array for several.
    pub fn next_body(&mut self, cases_per_request: usize) -> Vec<u8> {
        let cases: Vec<Case> = (0..cases_per_request.max(1))
            .map(|_| self.next_case())
            .collect();
        let body = if cases.len() == 1 {
            serde_json::to_vec(&cases[0])
        } else {
            serde_json::to_vec(&cases)
        };
        body.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::parse_cases;

    #[test]
    fn same_seed_same_cases_and_all_valid() {
        let (mut a, mut b) = (CaseGenerator::new(7), CaseGenerator::new(7));
        for _ in 0..200 {
            let body = a.next_body(3);
            assert_eq!(body, b.next_body(3));
            assert_eq!(parse_cases(&body).map(|c| c.len()), Ok(3));
        }
        assert_ne!(
            CaseGenerator::new(8).next_body(1),
            CaseGenerator::new(7).next_body(1)
        );
    }
}
