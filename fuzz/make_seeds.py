#!/usr/bin/env python3
"""Write fuzz seeds for `verify_arbitrary` from fixtures made by `chainproof fixtures`.

Usage: python3 fuzz/make_seeds.py FIXTURES_DIR fuzz/seeds

Each fixture subdirectory with a leaf.pem becomes one seed in the target's input layout:
control byte, u16 leaf length, u16 CRL length, leaf DER, CRLs, intermediates (PEM).
"""
import base64
import pathlib
import re
import struct
import sys

PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def first_der(pem: bytes) -> bytes:
    m = PEM.search(pem)
    if not m:
        raise SystemExit("no PEM block")
    return base64.b64decode(b"".join(m.group(2).split()))


def main() -> None:
    src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    for fixture in sorted(p for p in src.iterdir() if (p / "leaf.pem").is_file()):
        leaf = first_der((fixture / "leaf.pem").read_bytes())
        crls = b"".join(p.read_bytes() for p in sorted(fixture.glob("crl-*.pem")))
        inter = fixture / "intermediates.pem"
        bag = inter.read_bytes() if inter.is_file() else b""
        if len(leaf) > 0xFFFF or len(crls) > 0xFFFF:
            continue
        seed = struct.pack("<BHH", 0, len(leaf), len(crls)) + leaf + crls + bag
        (dst / f"{fixture.name}.bin").write_bytes(seed)
        print(f"{fixture.name}: {len(seed)} bytes")


if __name__ == "__main__":
    main()
