#!/usr/bin/env python3
"""Hash the passwords of a sol password file in place.

Usage: passwd.py [--sha512-crypt] FILE

FILE holds one `user:password` line per user. Every line whose password is
plaintext is rewritten as `user:<hash>`; lines that already hold a hash sol
reads ($7$, $6$, $5$, $1$, $apr1$), blank lines and '#' comments are kept as
they are. The file is replaced atomically with mode 0600.

Hashes:
  default         $7$101$<salt>$<hash>: PBKDF2-HMAC-SHA512, 101 iterations,
                  12-byte salt, exactly what mosquitto_passwd 2.0 writes.
  --sha512-crypt  $6$<salt>$<hash>: crypt(3) SHA-512 (5000 rounds), what the
                  C sol's passwd.py wrote through the `crypt` module. That
                  module is gone in Python 3.13, so sha512-crypt is implemented
                  below from Ulrich Drepper's specification
                  (https://www.akkadia.org/drepper/SHA-crypt.txt).

Standard library only (hashlib, os, base64), no `import crypt`.
"""

import argparse
import base64
import hashlib
import os
import sys
import tempfile

PBKDF2_ITERATIONS = 101  # mosquitto_passwd 2.0 default (PW_DEFAULT_ITERATIONS)
PBKDF2_SALT_LEN = 12  # mosquitto's SALT_LEN

CRYPT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SHA512_CRYPT_ROUNDS_DEFAULT = 5000
SHA512_CRYPT_ROUNDS_MIN = 1000
SHA512_CRYPT_ROUNDS_MAX = 999999999
SHA512_CRYPT_SALT_MAX = 16

# Order in which sha512-crypt emits the final digest's bytes, three at a time.
_SHA512_CRYPT_ORDER = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4),
    (47, 5, 26), (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51),
    (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13), (56, 14, 35),
    (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19),
    (62, 20, 41),
)

HASH_PREFIXES = ("$7$", "$6$", "$5$", "$1$", "$apr1$")


def hash_pbkdf2(password, iterations=PBKDF2_ITERATIONS):
    """Return password (str) as mosquitto's $7$ PBKDF2-HMAC-SHA512 string."""
    salt = os.urandom(PBKDF2_SALT_LEN)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, 64)
    return "$7$%d$%s$%s" % (
        iterations,
        base64.b64encode(salt).decode("ascii"),
        base64.b64encode(digest).decode("ascii"),
    )


def _b64_24bit(b2, b1, b0, n):
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(n):
        out.append(CRYPT_ALPHABET[w & 0x3F])
        w >>= 6
    return "".join(out)


def _repeat(digest, length):
    """The first length bytes of digest repeated (steps 16 and 20 of the spec)."""
    return (digest * (length // len(digest) + 1))[:length]


def sha512_crypt(password, salt=None, rounds=None):
    """Return crypt(3)'s SHA-512 hash ($6$) of password (str or bytes).

    salt is up to 16 characters of [./0-9A-Za-z] (random when None); rounds
    None means the default 5000 with no rounds= field, otherwise it is clamped
    to 1000..999999999 and written as rounds=N$, as glibc does.
    """
    if isinstance(password, str):
        password = password.encode("utf-8")
    if salt is None:
        salt = "".join(CRYPT_ALPHABET[b & 0x3F] for b in os.urandom(SHA512_CRYPT_SALT_MAX))
    salt_b = salt[:SHA512_CRYPT_SALT_MAX].encode("ascii")
    custom = rounds is not None
    if custom:
        rounds = max(SHA512_CRYPT_ROUNDS_MIN, min(SHA512_CRYPT_ROUNDS_MAX, rounds))
    else:
        rounds = SHA512_CRYPT_ROUNDS_DEFAULT
    p, s = password, salt_b

    b = hashlib.sha512(p + s + p).digest()  # steps 4-8
    a = hashlib.sha512(p + s)  # steps 1-3
    a.update(_repeat(b, len(p)))  # steps 9-10
    n = len(p)
    while n > 0:  # step 11
        a.update(b if n & 1 else p)
        n >>= 1
    a = a.digest()  # step 12
    p_seq = _repeat(hashlib.sha512(p * len(p)).digest(), len(p))  # steps 13-16
    s_seq = _repeat(hashlib.sha512(s * (16 + a[0])).digest(), len(s))  # steps 17-20
    c = a
    for r in range(rounds):  # step 21
        h = hashlib.sha512()
        h.update(p_seq if r & 1 else c)
        if r % 3:
            h.update(s_seq)
        if r % 7:
            h.update(p_seq)
        h.update(c if r & 1 else p_seq)
        c = h.digest()

    out = "".join(_b64_24bit(c[i], c[j], c[k], 4) for i, j, k in _SHA512_CRYPT_ORDER)
    out += _b64_24bit(0, 0, c[63], 2)
    prefix = "$6$" + ("rounds=%d$" % rounds if custom else "")
    return prefix + s.decode("ascii") + "$" + out


def is_hashed(password):
    return password.startswith(HASH_PREFIXES)


def hash_file(path, hasher):
    """Rewrite path with every plaintext password hashed; return how many."""
    with open(path, "r", encoding="utf-8") as f:
        lines = f.read().splitlines()
    changed = 0
    out = []
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            out.append(line)
            continue
        user, sep, password = stripped.partition(":")
        user = user.strip()
        if not sep or not user or not password:
            raise ValueError("%s line %d: want user:password" % (path, n))
        if is_hashed(password):
            out.append(line)
            continue
        out.append(user + ":" + hasher(password))
        changed += 1
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(l + "\n" for l in out))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return changed


def main(argv):
    parser = argparse.ArgumentParser(description="Hash the plaintext passwords of a user:password file in place.")
    parser.add_argument("file", help="password file, one user:password per line")
    parser.add_argument("--sha512-crypt", action="store_true",
                        help="write crypt(3) $6$ SHA-512 hashes instead of $7$ PBKDF2-SHA512")
    args = parser.parse_args(argv)
    hasher = sha512_crypt if args.sha512_crypt else hash_pbkdf2
    try:
        n = hash_file(args.file, hasher)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        print("passwd.py: %s" % e, file=sys.stderr)
        return 1
    print("passwd.py: hashed %d password(s) in %s" % (n, args.file), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
