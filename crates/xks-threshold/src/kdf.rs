//! From the combined point `S = x·V` to the AES-256 key: HKDF-SHA256 (RFC 5869).

use core::fmt;

use hkdf::Hkdf;
use p256::AffinePoint;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::encoding::encode_point;
use crate::keypath::KeyPath;
use crate::suite::{HKDF_INFO_AES_KEY, HKDF_SALT};

/// Length of the AES-256 key.
pub const KEY_LEN: usize = 32;

/// `K = HKDF-SHA256(salt, IKM = SerializeElement(S), info = label || u16be(len(p)) || p, L = 32)`.
fn derive(s: &AffinePoint, key_path: &KeyPath) -> Zeroizing<[u8; KEY_LEN]> {
    // Callers refuse the identity before this point; an all-zero IKM could only arise from a bug.
    let ikm = Zeroizing::new(encode_point(s).unwrap_or([0u8; 33]));
    let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), ikm.as_slice());
    let path = key_path.as_bytes();
    let len = u16::try_from(path.len()).unwrap_or(u16::MAX).to_be_bytes();
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    // 32 bytes is far below HKDF-SHA256's limit of 8160, so expand cannot fail.
    let _ = hk.expand_multi_info(&[HKDF_INFO_AES_KEY, &len, path], okm.as_mut_slice());
    okm
}

/// The key bytes and the generation they belong to. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
struct AesKey {
    #[zeroize(skip)]
    generation: u32,
    key: [u8; KEY_LEN],
}

impl AesKey {
    fn derive(generation: u32, s: &AffinePoint, key_path: &KeyPath) -> Self {
        Self { generation, key: *derive(s, key_path) }
    }
}

/// An AES-256 key derived from verified partials: encrypts and decrypts.
/// Lives for one request; zeroized on drop.
pub struct DataKey(AesKey);

macro_rules! key_accessors {
    ($t:ident) => {
        impl $t {
            pub(crate) fn derive(generation: u32, s: &AffinePoint, key_path: &KeyPath) -> Self {
                Self(AesKey::derive(generation, s, key_path))
            }

            /// Generation of the key set it was derived under.
            pub fn generation(&self) -> u32 {
                self.0.generation
            }

            pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
                &self.0.key
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "(generation={}, <redacted>)"), self.0.generation)
            }
        }
    };
}
key_accessors!(DataKey);

impl DataKey {
    /// The raw key, for known-answer tests and the vector generator only.
    #[cfg(feature = "hazmat-test-vectors")]
    pub fn expose_for_test_vectors(&self) -> &[u8; KEY_LEN] {
        &self.0.key
    }
}
