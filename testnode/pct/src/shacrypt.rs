//! SHA-256, SHA-512 and the SHA-crypt password hashes (`$5$`, `$6$`) of
//! Ulrich Drepper's specification, as glibc/libxcrypt `crypt(3)` and
//! `openssl passwd -5/-6` compute them.
//!
//! Proxmox Backup Server checks a password with libcrypt's `crypt_r` against
//! the hash in `shadow.json`, so it accepts every hash libcrypt knows; it
//! writes yescrypt (`$y$`) since proxmox-sys moved to it in March 2024
//! (`$5$` before). The double writes `$6$` (yescrypt is not implemented here)
//! and verifies `$5$` and `$6$`.

const K256: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

const H256: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

const K512: [u64; 80] = [
    0x428a2f98d728ae22,
    0x7137449123ef65cd,
    0xb5c0fbcfec4d3b2f,
    0xe9b5dba58189dbbc,
    0x3956c25bf348b538,
    0x59f111f1b605d019,
    0x923f82a4af194f9b,
    0xab1c5ed5da6d8118,
    0xd807aa98a3030242,
    0x12835b0145706fbe,
    0x243185be4ee4b28c,
    0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f,
    0x80deb1fe3b1696b1,
    0x9bdc06a725c71235,
    0xc19bf174cf692694,
    0xe49b69c19ef14ad2,
    0xefbe4786384f25e3,
    0x0fc19dc68b8cd5b5,
    0x240ca1cc77ac9c65,
    0x2de92c6f592b0275,
    0x4a7484aa6ea6e483,
    0x5cb0a9dcbd41fbd4,
    0x76f988da831153b5,
    0x983e5152ee66dfab,
    0xa831c66d2db43210,
    0xb00327c898fb213f,
    0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2,
    0xd5a79147930aa725,
    0x06ca6351e003826f,
    0x142929670a0e6e70,
    0x27b70a8546d22ffc,
    0x2e1b21385c26c926,
    0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df,
    0x650a73548baf63de,
    0x766a0abb3c77b2a8,
    0x81c2c92e47edaee6,
    0x92722c851482353b,
    0xa2bfe8a14cf10364,
    0xa81a664bbc423001,
    0xc24b8b70d0f89791,
    0xc76c51a30654be30,
    0xd192e819d6ef5218,
    0xd69906245565a910,
    0xf40e35855771202a,
    0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8,
    0x1e376c085141ab53,
    0x2748774cdf8eeb99,
    0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63,
    0x4ed8aa4ae3418acb,
    0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc,
    0x78a5636f43172f60,
    0x84c87814a1f0ab72,
    0x8cc702081a6439ec,
    0x90befffa23631e28,
    0xa4506cebde82bde9,
    0xbef9a3f7b2c67915,
    0xc67178f2e372532b,
    0xca273eceea26619c,
    0xd186b8c721c0c207,
    0xeada7dd6cde0eb1e,
    0xf57d4f7fee6ed178,
    0x06f067aa72176fba,
    0x0a637dc5a2c898a6,
    0x113f9804bef90dae,
    0x1b710b35131c471b,
    0x28db77f523047d84,
    0x32caab7b40c72493,
    0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6,
    0x597f299cfc657e2a,
    0x5fcb6fab3ad6faec,
    0x6c44198c4a475817,
];

const H512: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

/// Merkle–Damgård padding: `0x80`, zeros, the bit length in `len_bytes` bytes.
fn pad(msg: &[u8], block: usize, len_bytes: usize) -> Vec<u8> {
    let mut m = msg.to_vec();
    m.push(0x80);
    while m.len() % block != block - len_bytes {
        m.push(0);
    }
    let bits = (msg.len() as u128) * 8;
    m.extend_from_slice(&bits.to_be_bytes()[16 - len_bytes..]);
    m
}

/// SHA-256 of `msg`.
pub fn sha256(msg: &[u8]) -> [u8; 32] {
    let mut h = H256;
    for chunk in pad(msg, 64, 8).chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K256[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [
                t1.wrapping_add(t2),
                v[0],
                v[1],
                v[2],
                v[3].wrapping_add(t1),
                v[4],
                v[5],
                v[6],
            ];
        }
        for (a, b) in h.iter_mut().zip(v) {
            *a = a.wrapping_add(b);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// SHA-512 of `msg`.
pub fn sha512(msg: &[u8]) -> [u8; 64] {
    let mut h = H512;
    for chunk in pad(msg, 128, 16).chunks(128) {
        let mut w = [0u64; 80];
        for (i, word) in chunk.chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(word);
            w[i] = u64::from_be_bytes(b);
        }
        for i in 16..80 {
            let s0 = w[i - 15].rotate_right(1) ^ w[i - 15].rotate_right(8) ^ (w[i - 15] >> 7);
            let s1 = w[i - 2].rotate_right(19) ^ w[i - 2].rotate_right(61) ^ (w[i - 2] >> 6);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..80 {
            let s1 = v[4].rotate_right(14) ^ v[4].rotate_right(18) ^ v[4].rotate_right(41);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K512[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(28) ^ v[0].rotate_right(34) ^ v[0].rotate_right(39);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [
                t1.wrapping_add(t2),
                v[0],
                v[1],
                v[2],
                v[3].wrapping_add(t1),
                v[4],
                v[5],
                v[6],
            ];
        }
        for (a, b) in h.iter_mut().zip(v) {
            *a = a.wrapping_add(b);
        }
    }
    let mut out = [0u8; 64];
    for (i, word) in h.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The byte triples (and character counts) of the final encoding.
const ORDER256: [(usize, usize, usize, usize); 11] = [
    (0, 10, 20, 4),
    (21, 1, 11, 4),
    (12, 22, 2, 4),
    (3, 13, 23, 4),
    (24, 4, 14, 4),
    (15, 25, 5, 4),
    (6, 16, 26, 4),
    (27, 7, 17, 4),
    (18, 28, 8, 4),
    (9, 19, 29, 4),
    (usize::MAX, 31, 30, 3),
];

const ORDER512: [(usize, usize, usize, usize); 22] = [
    (0, 21, 42, 4),
    (22, 43, 1, 4),
    (44, 2, 23, 4),
    (3, 24, 45, 4),
    (25, 46, 4, 4),
    (47, 5, 26, 4),
    (6, 27, 48, 4),
    (28, 49, 7, 4),
    (50, 8, 29, 4),
    (9, 30, 51, 4),
    (31, 52, 10, 4),
    (53, 11, 32, 4),
    (12, 33, 54, 4),
    (34, 55, 13, 4),
    (56, 14, 35, 4),
    (15, 36, 57, 4),
    (37, 58, 16, 4),
    (59, 17, 38, 4),
    (18, 39, 60, 4),
    (40, 61, 19, 4),
    (62, 20, 41, 4),
    (usize::MAX, usize::MAX, 63, 2),
];

/// `len` bytes of `block` repeated.
fn repeat_to(block: &[u8], len: usize) -> Vec<u8> {
    block.iter().copied().cycle().take(len).collect()
}

/// `crypt(3)` for a `$5$`/`$6$` setting (`$6$[rounds=N$]salt[$...]`); `None`
/// for any other method or a malformed setting.
pub fn crypt(password: &[u8], setting: &str) -> Option<String> {
    let (id, rest) = if let Some(r) = setting.strip_prefix("$5$") {
        (5, r)
    } else {
        (6, setting.strip_prefix("$6$")?)
    };
    let hash = |data: &[u8]| -> Vec<u8> {
        if id == 5 {
            sha256(data).to_vec()
        } else {
            sha512(data).to_vec()
        }
    };
    let (rounds, custom, rest) = match rest.strip_prefix("rounds=") {
        Some(r) => {
            let (n, tail) = r.split_once('$')?;
            let n: u64 = n.parse().ok()?;
            (n.clamp(1000, 999_999_999), true, tail)
        }
        None => (5000, false, rest),
    };
    let salt_full = rest.split('$').next().unwrap_or("");
    let salt: String = salt_full.chars().take(16).collect();
    let (p, s) = (password, salt.as_bytes());

    let b = hash(&[p, s, p].concat());
    let mut a_in = [p, s].concat();
    a_in.extend(repeat_to(&b, p.len()));
    let mut n = p.len();
    while n > 0 {
        a_in.extend_from_slice(if n & 1 == 1 { &b } else { p });
        n >>= 1;
    }
    let a = hash(&a_in);
    let dp = hash(&p.repeat(p.len()));
    let p_seq = repeat_to(&dp, p.len());
    let ds = hash(&s.repeat(16 + usize::from(a[0])));
    let s_seq = repeat_to(&ds, s.len());

    let mut c = a;
    for i in 0..rounds {
        let mut input = Vec::with_capacity(2 * c.len() + 2 * p_seq.len() + s_seq.len());
        input.extend_from_slice(if i % 2 == 1 { &p_seq } else { &c });
        if i % 3 != 0 {
            input.extend_from_slice(&s_seq);
        }
        if i % 7 != 0 {
            input.extend_from_slice(&p_seq);
        }
        input.extend_from_slice(if i % 2 == 1 { &c } else { &p_seq });
        c = hash(&input);
    }

    let mut out = format!("${id}$");
    if custom {
        out.push_str(&format!("rounds={rounds}$"));
    }
    out.push_str(&salt);
    out.push('$');
    let byte = |i: usize| {
        if i == usize::MAX {
            0u32
        } else {
            u32::from(c[i])
        }
    };
    let order: &[(usize, usize, usize, usize)] = if id == 5 { &ORDER256 } else { &ORDER512 };
    for &(b2, b1, b0, count) in order {
        let mut w = (byte(b2) << 16) | (byte(b1) << 8) | byte(b0);
        for _ in 0..count {
            out.push(char::from(ITOA64[(w & 0x3f) as usize]));
            w >>= 6;
        }
    }
    Some(out)
}

/// Whether `password` matches the crypt `hash` (`$5$` or `$6$`), compared
/// without an early exit.
pub fn verify(password: &str, hash: &str) -> bool {
    let Some(computed) = crypt(password.as_bytes(), hash) else {
        return false;
    };
    computed.len() == hash.len()
        && computed
            .bytes()
            .zip(hash.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A `$6$` hash of `password` with `salt` (at most 16 characters of
/// `./0-9A-Za-z` are used), 5000 rounds.
pub fn hash_sha512(password: &str, salt: &str) -> String {
    let salt: String = salt
        .chars()
        .filter(|c| c.is_ascii() && ITOA64.contains(&(*c as u8)))
        .take(16)
        .collect();
    crypt(password.as_bytes(), &format!("$6${salt}$")).unwrap_or_default()
}

/// A salt character for a random number.
pub fn salt_char(n: u64) -> char {
    char::from(ITOA64[(n % 64) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(&sha512(b"abc")),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert!(hex(&sha512(b"")).starts_with("cf83e1357eefb8bdf1542850d66d8007d620e405"));
    }

    #[test]
    fn specification_vectors() {
        // The `$6$` vector of Drepper's "Unix crypt using SHA-256 and
        // SHA-512"; the `$5$` one is `openssl passwd -5 -salt saltstring`.
        assert_eq!(
            crypt(b"Hello world!", "$6$rounds=10000$saltstringsaltstring").as_deref(),
            Some(
                "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM\
                 /UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."
            )
        );
        assert_eq!(
            crypt(b"Hello world!", "$5$saltstring").as_deref(),
            Some("$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5")
        );
        let h = hash_sha512("secret", "abc");
        assert!(verify("secret", &h));
        assert!(!verify("Secret", &h));
        assert!(!verify("secret", "$y$j9T$abc$def"));
    }
}
