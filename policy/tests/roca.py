"""RSA keys made the way the library behind ROCA (CVE-2017-15361) made them, for the tests of
``aisb-certificate-key-quality``: each prime is ``k * M + (65537 ** a mod M)``, M the product of
the primes up to 167, or of more primes for larger keys (up to 701 for 1984 to 3936 bits), each
a multiple of the first (Nemec et al., ACM CCS 2017)."""

from __future__ import annotations

import random
from math import gcd, isqrt, prod

from aisb_guard.certificate_key_quality import ROCA_GENERATOR, ROCA_PRIMES
from cryptography.hazmat.primitives.asymmetric import rsa

M = 2 * prod(ROCA_PRIMES)
E = 65537


def probably_prime(n: int, rng: random.Random, rounds: int = 32) -> bool:
    """Miller-Rabin with ``rounds`` random bases."""
    if n < 4:
        return n in (2, 3)
    if n % 2 == 0:
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def primorial(largest: int) -> int:
    """The product of the primes up to ``largest``."""
    return prod(n for n in range(2, largest + 1) if all(n % d for d in range(2, isqrt(n) + 1)))


def roca_prime(bits: int, rng: random.Random, m: int = M) -> int:
    """A prime of ``bits`` bits of the vulnerable form for the primorial ``m``, usable with the
    exponent 65537."""
    low = isqrt(1 << (2 * bits - 1)) + 1  # two primes of at least this make 2 * bits bits
    while True:
        k = rng.randrange(low // m + 1, (1 << bits) // m)
        p = k * m + pow(ROCA_GENERATOR, rng.getrandbits(62), m)
        if low <= p < 1 << bits and gcd(p - 1, E) == 1 and probably_prime(p, rng):
            return p


def roca_key(bits: int = 2048, seed: int = 2017, largest: int = 167) -> rsa.RSAPrivateKey:
    """An RSA key of ``bits`` bits whose two primes are of the vulnerable form for the product
    of the primes up to ``largest``."""
    rng = random.Random(seed)
    m = primorial(largest)
    p, q = roca_prime(bits // 2, rng, m), roca_prime(bits // 2, rng, m)
    d = pow(E, -1, (p - 1) * (q - 1) // gcd(p - 1, q - 1))
    return rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(E, p * q),
    ).private_key()
