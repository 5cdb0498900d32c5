//! Helpers shared by the integration tests.

use rand_core::{CryptoRng, RngCore};

/// A random generator that has failed: it returns the same byte forever.
pub struct Stuck(pub u8);

impl RngCore for Stuck {
    fn next_u32(&mut self) -> u32 {
        u32::from_be_bytes([self.0; 4])
    }
    fn next_u64(&mut self) -> u64 {
        u64::from_be_bytes([self.0; 8])
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(self.0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Stuck {}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).expect("hex")
}
