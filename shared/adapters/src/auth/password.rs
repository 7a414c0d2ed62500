//! Passwords, hashed with argon2id (PHC strings: the salt and the cost travel
//! with each hash, so a cost raised later still verifies older hashes).
//!
//! An unknown user is verified against a dummy hash of the same cost, so a
//! wrong password and an unknown email take the same work and give the same
//! answer (no user enumeration by timing or by message).

use std::sync::Arc;

use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 cost: {0}")]
    Cost(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// The argon2id cost (`login.argon2_*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    /// Memory in KiB (m).
    pub memory_kib: u32,
    /// Passes (t).
    pub iterations: u32,
    /// Lanes (p).
    pub parallelism: u32,
}

impl Default for PasswordCost {
    /// The argon2 crate's defaults (OWASP's first recommendation: 19 MiB, t=2, p=1).
    fn default() -> Self {
        PasswordCost {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
        }
    }
}

/// Hashes and verifies at one cost. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    /// A hash of a random password at this cost: what unknown users verify against.
    dummy: Arc<str>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

fn salt() -> SaltString {
    // 16 random bytes (a v4 UUID's), the length argon2 recommends.
    SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).expect("16 bytes are a valid salt")
}

impl Passwords {
    pub fn new(cost: PasswordCost) -> Result<Passwords, PasswordError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| PasswordError::Cost(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy = argon2
            .hash_password(uuid::Uuid::new_v4().to_string().as_bytes(), &salt())
            .map_err(|e| PasswordError::Hash(e.to_string()))?
            .to_string();
        Ok(Passwords {
            argon2,
            dummy: dummy.into(),
        })
    }

    /// The PHC string of `plain` (argon2id, a fresh salt, this cost).
    pub fn hash(&self, plain: &str) -> Result<String, PasswordError> {
        self.argon2
            .hash_password(plain.as_bytes(), &salt())
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    /// Whether `plain` matches `phc` (false for a malformed hash).
    pub fn verify(&self, plain: &str, phc: &str) -> bool {
        verify_password(plain, phc)
    }

    /// The same work as [`Passwords::verify`] for a user that does not exist;
    /// always false.
    pub fn verify_dummy(&self, plain: &str) -> bool {
        let _ = verify_password(plain, &self.dummy);
        false
    }
}

/// Hashes `plain` at the argon2 crate's default cost (argon2id).
pub fn hash_password(plain: &str) -> Result<String, PasswordError> {
    Passwords::new(PasswordCost::default())?.hash(plain)
}

/// Whether `plain` matches the PHC string `phc` (its own salt and cost).
pub fn verify_password(plain: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(plain.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::new(PasswordCost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let passwords = cheap();
        let phc = passwords.hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(passwords.verify("correct horse", &phc));
        assert!(!passwords.verify("correct horsE", &phc));
        assert!(!passwords.verify("correct horse", "not a hash"));
        assert_ne!(phc, passwords.hash("correct horse").unwrap(), "salted");
    }

    #[test]
    fn the_dummy_never_verifies_and_the_default_cost_functions_agree() {
        let passwords = cheap();
        assert!(!passwords.verify_dummy("anything"));
        assert!(passwords
            .dummy
            .starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        let phc = passwords.hash("pw").unwrap();
        assert!(
            verify_password("pw", &phc),
            "the cost travels with the hash"
        );
    }

    #[test]
    fn a_bad_cost_is_an_error() {
        assert!(matches!(
            Passwords::new(PasswordCost {
                memory_kib: 1,
                iterations: 0,
                parallelism: 1
            }),
            Err(PasswordError::Cost(_))
        ));
    }
}
