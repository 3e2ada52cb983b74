//! Bearer tokens: who may read and who may write.
//!
//! Writes always need a write token. When none is configured the server makes one up at
//! start and prints it once (as Jupyter does), so writes are never open by accident.
//! Reads are open unless read tokens are configured; a write token also reads.
//!
//! Tokens are compared in constant time (for tokens of equal length: the length itself is
//! not secret enough to matter) and never logged: [`Token`]'s `Debug` hides the value.

use std::fmt;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use crate::config::AuthArgs;

/// Tokens shorter than this are refused at start: a guessable token is no protection.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A fresh random token: 256 bits from the OS generator, as 64 hex digits.
    pub fn generate() -> Self {
        Token(format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Equal in time that depends on the lengths only, never on where the bytes differ.
    fn matches(&self, presented: &[u8]) -> bool {
        let mine = self.0.as_bytes();
        if mine.len() != presented.len() {
            return false;
        }
        let diff = mine.iter().zip(presented).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl std::str::FromStr for Token {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() < MIN_TOKEN_LEN {
            return Err(format!("a token must be at least {MIN_TOKEN_LEN} characters long"));
        }
        if !s.chars().all(|c| c.is_ascii_graphic()) {
            return Err("a token may contain only printable ASCII characters without spaces".into());
        }
        Ok(Token(s.to_owned()))
    }
}

/// What the credentials of one request allow.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// No `Authorization` header (or not a bearer token).
    Anonymous,
    /// A token that matches no configured token.
    Invalid,
    Read,
    Write,
}

impl Access {
    pub fn can_write(self) -> bool {
        self == Access::Write
    }
}

#[derive(Clone, Debug)]
pub struct AccessPolicy {
    write: Vec<Token>,
    read: Vec<Token>,
}

impl AccessPolicy {
    /// The policy of the configured tokens; with no write token, one is generated and
    /// returned so the caller can show it.
    pub fn from_args(args: &AuthArgs) -> (Self, Option<Token>) {
        let mut write = args.write_tokens.clone();
        let generated = if write.is_empty() {
            let token = Token::generate();
            write.push(token.clone());
            Some(token)
        } else {
            None
        };
        (AccessPolicy { write, read: args.read_tokens.clone() }, generated)
    }

    /// Whether every operation, reads included, needs a token.
    pub fn reads_need_token(&self) -> bool {
        !self.read.is_empty()
    }

    pub fn access(&self, headers: &HeaderMap) -> Access {
        let Some(presented) = bearer(headers) else { return Access::Anonymous };
        // Every token is compared, so the time taken does not tell which list matched.
        let write = self.write.iter().fold(false, |hit, t| t.matches(presented) | hit);
        let read = self.read.iter().fold(false, |hit, t| t.matches(presented) | hit);
        if write {
            Access::Write
        } else if read {
            Access::Read
        } else {
            Access::Invalid
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at(value.iter().position(|b| *b == b' ')?);
    scheme.eq_ignore_ascii_case(b"bearer").then(|| token.trim_ascii()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        h
    }

    fn token(s: &str) -> Token {
        s.parse().expect("token")
    }

    #[test]
    fn bearer_tokens_map_to_their_access() {
        let args = AuthArgs {
            write_tokens: vec![token("write-token-0000001"), token("write-token-0000002")],
            read_tokens: vec![token("read-token-00000001")],
        };
        let (policy, generated) = AccessPolicy::from_args(&args);
        assert!(generated.is_none());
        assert_eq!(policy.access(&HeaderMap::new()), Access::Anonymous);
        assert_eq!(policy.access(&headers("Basic dXNlcjpwYXNz")), Access::Anonymous);
        assert_eq!(policy.access(&headers("Bearer write-token-0000002")), Access::Write, "rotation: both accepted");
        assert_eq!(policy.access(&headers("bearer  write-token-0000001 ")), Access::Write);
        assert_eq!(policy.access(&headers("Bearer read-token-00000001")), Access::Read);
        assert_eq!(policy.access(&headers("Bearer write-token-0000003")), Access::Invalid);
        assert_eq!(policy.access(&headers("Bearer write-token-000000")), Access::Invalid);
        assert!(policy.reads_need_token());
    }

    #[test]
    fn without_write_tokens_one_is_generated_and_hidden_from_debug() {
        let (policy, generated) = AccessPolicy::from_args(&AuthArgs::default());
        let generated = generated.expect("generated");
        assert_eq!(generated.expose().len(), 64);
        assert!(!format!("{policy:?}").contains(generated.expose()));
        assert_eq!(policy.access(&headers(&format!("Bearer {}", generated.expose()))), Access::Write);
        assert!(!policy.reads_need_token());
        assert!("short".parse::<Token>().is_err());
        assert!("has a space in it, long".parse::<Token>().is_err());
    }
}
