//! One encrypted sops value: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.
//!
//! AES-256-GCM with a 32-byte IV (what sops uses), the data key of the file,
//! and as additional data the value's path of map keys, each followed by `:`
//! (sequence items share their parent's path). The MAC uses the same cipher
//! with the `lastmodified` text as additional data.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::tree::{Node, format_float};
use crate::{Error, Result};

/// sops's AES-256-GCM: 32-byte nonces.
type Cipher = AesGcm<Aes256, U32>;

/// IV length sops writes.
const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The file's data key: 32 random bytes, wrapped for each recipient.
pub type DataKey = Zeroizing<[u8; 32]>;

/// The plaintext type a value had, as recorded in `type:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// `str`
    Str,
    /// `int`
    Int,
    /// `float`
    Float,
    /// `bool`
    Bool,
    /// `bytes` (read as a string)
    Bytes,
}

impl ValueType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Str => "str",
            Self::Int => "int",
            Self::Float => "float",
            Self::Bool => "bool",
            Self::Bytes => "bytes",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "str" => Self::Str,
            "int" => Self::Int,
            "float" => Self::Float,
            "bool" => Self::Bool,
            "bytes" => Self::Bytes,
            "comment" => return Err(Error::Format("encrypted comments are not supported as values".into())),
            _ => return Err(Error::Format("unknown value type in an ENC[] value".into())),
        })
    }
}

/// The bytes sops encrypts and hashes for a scalar (Go's `sops.ToBytes`):
/// strings as UTF-8, integers in decimal, floats shortest without exponent,
/// booleans as `True` / `False`. `None` for values that are never encrypted
/// (null, maps, sequences).
pub(crate) fn scalar_bytes(n: &Node) -> Option<(Zeroizing<Vec<u8>>, ValueType)> {
    let (bytes, t) = match n {
        Node::Str(s) => (s.as_bytes().to_vec(), ValueType::Str),
        Node::Int(i) => (i.to_string().into_bytes(), ValueType::Int),
        Node::Float(f) => (format_float(*f).into_bytes(), ValueType::Float),
        Node::Bool(b) => ((if *b { "True" } else { "False" }).as_bytes().to_vec(), ValueType::Bool),
        Node::Null | Node::Map(_) | Node::Seq(_) => return None,
    };
    Some((Zeroizing::new(bytes), t))
}

/// Encrypts bytes into the `ENC[...]` text.
pub(crate) fn encrypt<R: RngCore + CryptoRng>(key: &DataKey, plaintext: &[u8], t: ValueType, aad: &[u8], rng: &mut R) -> Result<String> {
    let cipher = Cipher::new_from_slice(key.as_slice()).map_err(|_| Error::Crypto)?;
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);
    let mut buf = Zeroizing::new(plaintext.to_vec());
    let tag = cipher.encrypt_in_place_detached(Nonce::<U32>::from_slice(&iv), aad, &mut buf).map_err(|_| Error::Crypto)?;
    Ok(format!("ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]", B64.encode(&*buf), B64.encode(iv), B64.encode(tag), t.as_str()))
}

/// Whether a string is an encrypted sops value.
pub(crate) fn is_encrypted(s: &str) -> bool {
    s.starts_with("ENC[") && s.ends_with(']')
}

/// Decrypts an `ENC[...]` text to its bytes and type.
///
/// # Errors
/// [`Error::Format`] for a malformed value, [`Error::Integrity`] when the tag
/// does not verify (wrong key, tampered value, or the value was moved to another path).
pub(crate) fn decrypt(key: &DataKey, text: &str, aad: &[u8]) -> Result<(Zeroizing<Vec<u8>>, ValueType)> {
    let bad = || Error::Format("malformed ENC[] value".into());
    let inner = text.strip_prefix("ENC[AES256_GCM,").and_then(|s| s.strip_suffix(']')).ok_or_else(bad)?;
    let (mut data, mut iv, mut tag, mut t) = (None, None, None, None);
    for part in inner.split(',') {
        let (k, v) = part.split_once(':').ok_or_else(bad)?;
        let slot = match k {
            "data" => &mut data,
            "iv" => &mut iv,
            "tag" => &mut tag,
            "type" => &mut t,
            _ => return Err(bad()),
        };
        if slot.replace(v).is_some() {
            return Err(bad());
        }
    }
    let (data, iv, tag, t) = (data.ok_or_else(bad)?, iv.ok_or_else(bad)?, tag.ok_or_else(bad)?, t.ok_or_else(bad)?);
    let t = ValueType::parse(t)?;
    let mut buf = Zeroizing::new(B64.decode(data).map_err(|_| bad())?);
    let iv = B64.decode(iv).map_err(|_| bad())?;
    let tag = B64.decode(tag).map_err(|_| bad())?;
    if iv.len() != IV_LEN || tag.len() != TAG_LEN {
        return Err(Error::Format("ENC[] value with an IV or tag of unsupported length".into()));
    }
    let cipher = Cipher::new_from_slice(key.as_slice()).map_err(|_| Error::Crypto)?;
    cipher
        .decrypt_in_place_detached(Nonce::<U32>::from_slice(&iv), aad, &mut buf, Tag::from_slice(&tag))
        .map_err(|_| Error::Integrity("a value does not decrypt with the file's data key (tampered, moved or wrong key)".into()))?;
    Ok((buf, t))
}

/// Turns decrypted bytes back into a scalar node of the recorded type.
pub(crate) fn to_node(bytes: &[u8], t: ValueType) -> Result<Node> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::Format("a decrypted value is not UTF-8".into()))?;
    let wrong = || Error::Format(format!("a decrypted value is not a valid {}", t.as_str()));
    Ok(match t {
        ValueType::Str | ValueType::Bytes => Node::Str(text.to_owned()),
        ValueType::Int => Node::Int(text.parse().map_err(|_| wrong())?),
        ValueType::Float => Node::Float(match text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            _ => text.parse().map_err(|_| wrong())?,
        }),
        // Go's strconv.ParseBool, which sops uses.
        ValueType::Bool => Node::Bool(match text {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err(wrong()),
        }),
    })
}

#[cfg(test)]
mod tests {
    use rand_core::OsRng;

    use super::*;

    #[test]
    fn round_trip_and_path_binding() -> Result<()> {
        let key = Zeroizing::new([7u8; 32]);
        let enc = encrypt(&key, b"secret", ValueType::Str, b"a:b:", &mut OsRng)?;
        assert!(is_encrypted(&enc));
        let (pt, t) = decrypt(&key, &enc, b"a:b:")?;
        assert_eq!((pt.as_slice(), t), (&b"secret"[..], ValueType::Str));
        assert!(matches!(decrypt(&key, &enc, b"a:c:"), Err(Error::Integrity(_))));
        assert!(matches!(decrypt(&Zeroizing::new([8u8; 32]), &enc, b"a:b:"), Err(Error::Integrity(_))));
        Ok(())
    }

    #[test]
    fn malformed_values_are_format_errors() {
        let key = Zeroizing::new([7u8; 32]);
        for bad in [
            "ENC[AES256_GCM,data:,iv:,tag:,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==]",
            "ENC[AES256_GCM,data:AA==,data:AA==,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_CBC,data:AA==,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:weird]",
        ] {
            assert!(matches!(decrypt(&key, bad, b""), Err(Error::Format(_))), "{bad}");
        }
    }

    #[test]
    fn scalars_encode_like_go_sops() {
        let b = |n: &Node| scalar_bytes(n).map(|(b, _)| String::from_utf8_lossy(&b).into_owned());
        assert_eq!(b(&Node::Bool(true)).as_deref(), Some("True"));
        assert_eq!(b(&Node::Bool(false)).as_deref(), Some("False"));
        assert_eq!(b(&Node::Int(-5)).as_deref(), Some("-5"));
        assert_eq!(b(&Node::Float(1234.56789)).as_deref(), Some("1234.56789"));
        assert_eq!(b(&Node::Null), None);
    }
}
