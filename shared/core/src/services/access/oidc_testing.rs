//! Test signers for JWTs an external OIDC issuer would send: RSA and EC keys generated per
//! test, their public JWKs, and hand-built tokens (including malformed ones).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Hmac(Vec<u8>),
    Unsigned,
}

impl Signer {
    pub fn rsa() -> Self {
        Signer::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"))
    }

    pub fn ec() -> Self {
        Signer::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key"))
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("RSA signs");
                sig
            }
            Signer::Ec(k) => k.sign(&rng, message).expect("EC signs").as_ref().to_vec(),
            Signer::Hmac(secret) => {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
                aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
            }
            Signer::Unsigned => Vec::new(),
        }
    }

    /// The public JWK, as an issuer publishes it. The EC key names no `alg`, so ES256
    /// must come from its kty and curve.
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            Signer::Rsa(k) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(k.public_key());
                json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                       "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e)})
            }
            Signer::Ec(k) => {
                let point = k.public_key().as_ref();
                assert_eq!(point.len(), 65, "uncompressed P-256 point");
                json!({"kty": "EC", "kid": kid, "crv": "P-256",
                       "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                       "y": URL_SAFE_NO_PAD.encode(&point[33..])})
            }
            Signer::Hmac(secret) => {
                json!({"kty": "oct", "kid": kid, "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(secret)})
            }
            Signer::Unsigned => json!({}),
        }
    }
}

pub fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

pub fn jwt(alg: &str, kid: &str, claims: &Value, signer: &Signer) -> String {
    let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
    let message = format!("{}.{}", b64(&header), b64(claims));
    let sig = signer.sign(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(sig))
}
