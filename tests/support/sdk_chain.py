"""Test peer for omega's chain layer: real bittensor-wallet keys and two independent decoders.

Run with the bittensor SDK's virtual environment ($OMEGA_BITTENSOR_PYTHON, scripts/setup.sh step
3b). `make-wallet`, `sign` and `verify` also run under bittensor-wallet 4.1.x
($OMEGA_BTWALLET41_PYTHON, which has no scalecodec). Every subcommand prints one JSON object on
stdout; on error it prints a message on stderr and exits non-zero.

  decode-call      [--metadata PATH] [--decoder metadata|spec] HEX
  decode-extrinsic [--metadata PATH] [--decoder metadata|spec] HEX
      {"pallet", "call", "args": {name: value}, "pallet_index", "call_index", "decoder"}, and for a
      signed extrinsic also "signer" (0x public key), "signer_ss58", "signature" (0x, 64 bytes),
      "signature_type", "era" ("immortal" or {"period", "phase"}), "nonce", "tip",
      "metadata_hash_mode". Byte strings and account ids are "0x" hex; a MultiAddress is the
      account id of its `Id` variant. An extrinsic may carry its compact length prefix or not.
  verify-extrinsic [--metadata PATH] --genesis HEX [--block-hash HEX] [--spec-version N]
                   [--tx-version N] [--metadata-hash HEX] HEX
      Rebuilds the signer payload (call, explicit extension data, implicit data; blake2_256 of it
      when longer than 256 bytes) and checks the sr25519 signature with bittensor-wallet's Keypair.
  check-extrinsics --metadata PATH --genesis HEX [--block-hash HEX] HEX...
      {"extrinsics": [{"metadata": decoded, "spec": decoded, "valid": bool}]}: each extrinsic
      decoded by both decoders and its signature checked, with one metadata load.
  tlock-decrypt --commit HEX --round N --signature HEX   {"plaintext": hex}
      bittensor-drand's decrypt_with_signature on a commit in the chain's layout.
  tlock-commit --block N --netuid N --tempo N --reveal-period N   {"reveal_round", "commit_length"}
      bittensor-drand's get_encrypted_commit (modulo-tempo epochs, its own clock).
  verify  --ss58 SS58 --message HEX --signature HEX        {"valid": bool}
  make-wallet --path DIR --name NAME --hotkey HK [--coldkey-password PW]
  sign    --path DIR --name NAME --hotkey HK --message HEX [--key hotkey|coldkey] [--password PW]
  check-spec --metadata PATH      the spec decoder's call table checked against the metadata
  self-test  --metadata PATH      both decoders, signatures and a wallet, on hand-made bytes

Decoders. `metadata` (the default when --metadata is given): PyPI scalecodec 1.2.11 decodes
RuntimeMetadata V14 only and bt_decode 0.8.0 V15 only, so this script gives scalecodec the V16
container layout (V16_TYPES below, from frame-metadata's v16 definitions); everything inside it
(the type registry, calls, transaction extensions, System.Version) is then scalecodec's own
generic decoding. `spec`: a few calls read field by field from the call table of
shared/spec/bittensor.md sections 1.2, 1.5 and 2.1, and the transaction-extension list of
subtensor spec 365 (section 1.9); it needs no metadata.
"""

import argparse
import hashlib
import json
import os
import struct
import sys

# Some SDK code (bittensor-wallet's Rust "Encrypting..." lines) writes to stdout: keep the real
# stdout for the answer and send everything else to stderr.
ANSWER = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)

SIGNED_BIT = 0x80
EXTRINSIC_VERSION = 4
# Signer payloads longer than this are signed as their blake2_256 hash.
MAX_PLAIN_PAYLOAD = 256


def blake2_256(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def from_hex(text):
    text = text.strip()
    return bytes.fromhex(text[2:] if text.startswith(("0x", "0X")) else text)


def to_hex(data):
    return "0x" + bytes(data).hex()


def encode_compact(n):
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return struct.pack("<H", (n << 2) | 1)
    if n < 1 << 30:
        return struct.pack("<I", (n << 2) | 2)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "little")
    return bytes([((len(raw) - 4) << 2) | 3]) + raw


# ---------------------------------------------------------------------------------------------
# The spec decoder: SCALE read by hand, calls from the spec's table.
# ---------------------------------------------------------------------------------------------


class Reader:
    """Little-endian SCALE reader over bytes."""

    def __init__(self, data, offset=0):
        self.data = bytes(data)
        self.offset = offset

    def take(self, n):
        if self.offset + n > len(self.data):
            raise ValueError(f"input ends at byte {len(self.data)}, wanted {n} more at {self.offset}")
        chunk = self.data[self.offset:self.offset + n]
        self.offset += n
        return chunk

    def uint(self, size):
        return int.from_bytes(self.take(size), "little")

    def compact(self):
        first = self.data[self.offset] if self.offset < len(self.data) else 0
        mode = first & 3
        if mode < 3:
            return self.uint(1 << mode) >> 2
        self.take(1)
        return self.uint((first >> 2) + 4)

    def rest(self):
        return self.take(len(self.data) - self.offset)

    def done(self):
        if self.offset != len(self.data):
            raise ValueError(f"{len(self.data) - self.offset} bytes left over after decoding")


def read_field(reader, type_name):
    """One value of the few SCALE types the spec table uses."""
    sizes = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16}
    if type_name in sizes:
        return reader.uint(sizes[type_name])
    if type_name == "Compact":
        return reader.compact()
    if type_name == "Vec<u8>":
        return to_hex(reader.take(reader.compact()))
    if type_name == "Vec<u16>":
        return [reader.uint(2) for _ in range(reader.compact())]
    if type_name == "MultiAddress":
        variant = reader.uint(1)
        if variant != 0:
            raise ValueError(f"MultiAddress variant {variant}: only Id (0) is supported")
        return to_hex(reader.take(32))
    raise ValueError(f"unknown field type {type_name}")


WEIGHTS = [("dests", "Vec<u16>"), ("weights", "Vec<u16>"), ("version_key", "u64")]
COMMIT = [("commit", "Vec<u8>"), ("reveal_round", "u64"), ("commit_reveal_version", "u16")]
# (pallet index, call index) -> (pallet, call, [(argument, type)]): bittensor.md 1.1, 1.2, 1.5, 2.1.
SPEC_CALLS = {
    (7, 0): ("SubtensorModule", "set_weights", [("netuid", "u16")] + WEIGHTS),
    (7, 119): ("SubtensorModule", "set_mechanism_weights", [("netuid", "u16"), ("mecid", "u8")] + WEIGHTS),
    (7, 4): ("SubtensorModule", "serve_axon", [
        ("netuid", "u16"), ("version", "u32"), ("ip", "u128"), ("port", "u16"), ("ip_type", "u8"),
        ("protocol", "u8"), ("placeholder1", "u8"), ("placeholder2", "u8")]),
    (7, 113): ("SubtensorModule", "commit_timelocked_weights", [("netuid", "u16")] + COMMIT),
    (7, 118): ("SubtensorModule", "commit_timelocked_mechanism_weights",
               [("netuid", "u16"), ("mecid", "u8")] + COMMIT),
    (5, 0): ("Balances", "transfer_allow_death", [("dest", "MultiAddress"), ("value", "Compact")]),
    (5, 3): ("Balances", "transfer_keep_alive", [("dest", "MultiAddress"), ("value", "Compact")]),
}


def spec_decode_call(reader):
    pallet_index, call_index = reader.uint(1), reader.uint(1)
    entry = SPEC_CALLS.get((pallet_index, call_index))
    if entry is None:
        raise ValueError(f"call {pallet_index}.{call_index} is not in the spec decoder's table")
    pallet, call, fields = entry
    args = {name: read_field(reader, type_name) for name, type_name in fields}
    return {"pallet": pallet, "call": call, "args": args,
            "pallet_index": pallet_index, "call_index": call_index}


def read_era(reader):
    """sp_runtime Era: 0x00 = immortal, else two bytes holding period and quantized phase."""
    first = reader.uint(1)
    if first == 0:
        return "immortal"
    encoded = first | (reader.uint(1) << 8)
    period = 2 << (encoded % 16)
    quantize = max(period >> 12, 1)
    return {"period": period, "phase": (encoded >> 4) * quantize}


# Spec 365 (bittensor.md 1.9): explicit data of each transaction extension, in order.
SPEC_EXTENSIONS = [
    ("CheckNonZeroSender", None), ("CheckSpecVersion", None), ("CheckTxVersion", None),
    ("CheckGenesis", None), ("CheckMortality", read_era), ("CheckNonce", Reader.compact),
    ("CheckWeight", None), ("ChargeTransactionPayment", Reader.compact),
    ("SudoTransactionExtension", None), ("SubtensorTransactionExtension", None),
    ("DrandPriority", None), ("CheckMetadataHash", lambda r: r.uint(1)),
]
EXTENSION_FIELDS = {"CheckMortality": "era", "CheckNonce": "nonce",
                    "ChargeTransactionPayment": "tip", "CheckMetadataHash": "metadata_hash_mode"}


class SpecDecoder:
    name = "spec"

    def signer(self, reader):
        variant = reader.uint(1)
        if variant != 0:
            raise ValueError(f"signer MultiAddress variant {variant}: expected Id (0)")
        return reader.take(32)

    def signature(self, reader):
        kinds = {0: ("Ed25519", 64), 1: ("Sr25519", 64), 2: ("Ecdsa", 65)}
        variant = reader.uint(1)
        if variant not in kinds:
            raise ValueError(f"unknown MultiSignature variant {variant}")
        kind, size = kinds[variant]
        return kind, reader.take(size)

    def extensions(self, reader):
        found = {}
        for identifier, read in SPEC_EXTENSIONS:
            if read is not None:
                found[identifier] = read(reader)
        return [name for name, _ in SPEC_EXTENSIONS], found

    def call(self, reader):
        return spec_decode_call(reader)

    def version(self):
        return None


# ---------------------------------------------------------------------------------------------
# The metadata decoder: scalecodec with the RuntimeMetadata V16 container layout added.
# ---------------------------------------------------------------------------------------------


def _struct(*fields):
    return {"type": "struct", "type_mapping": [list(f) for f in fields]}


def _enum(*variants):
    return {"type": "enum", "type_mapping": [list(v) for v in variants]}


# frame-metadata 23 `v16.rs`; StorageEntryModifierV13 / StorageEntryTypeV14 / PortableRegistry
# are scalecodec's own (unchanged since V14). Only the parts before `apis` are read.
DEPRECATED = ("Deprecated", "DeprecationNoteV16")
V16_TYPES = {
    "DeprecationNoteV16": _struct(("note", "Text"), ("since", "Option<Text>")),
    "ItemDeprecationInfoV16": _enum(("NotDeprecated", "Null"), ("DeprecatedWithoutNote", "Null"), DEPRECATED),
    # Variant indices 1 and 2; index 0 is unused.
    "VariantDeprecationInfoV16": _enum(("Unused", "Null"), ("DeprecatedWithoutNote", "Null"), DEPRECATED),
    "EnumDeprecationInfoV16": "Vec<(u8, VariantDeprecationInfoV16)>",
    "StorageEntryMetadataV16": _struct(
        ("name", "Text"), ("modifier", "StorageEntryModifierV13"), ("ty", "StorageEntryTypeV14"),
        ("default", "HexBytes"), ("docs", "Vec<Text>"), ("deprecation_info", "ItemDeprecationInfoV16")),
    "PalletStorageMetadataV16": _struct(("prefix", "Text"), ("entries", "Vec<StorageEntryMetadataV16>")),
    "PalletEnumMetadataV16": _struct(("ty", "SiLookupTypeId"), ("deprecation_info", "EnumDeprecationInfoV16")),
    "PalletConstantMetadataV16": _struct(
        ("name", "Text"), ("ty", "SiLookupTypeId"), ("value", "HexBytes"), ("docs", "Vec<Text>"),
        ("deprecation_info", "ItemDeprecationInfoV16")),
    "PalletAssociatedTypeMetadataV16": _struct(("name", "Text"), ("ty", "SiLookupTypeId"), ("docs", "Vec<Text>")),
    "FunctionParamMetadataV16": _struct(("name", "Text"), ("ty", "SiLookupTypeId")),
    "PalletViewFunctionMetadataV16": _struct(
        ("id", "[u8; 32]"), ("name", "Text"), ("inputs", "Vec<FunctionParamMetadataV16>"),
        ("output", "SiLookupTypeId"), ("docs", "Vec<Text>"), ("deprecation_info", "ItemDeprecationInfoV16")),
    "PalletMetadataV16": _struct(
        ("name", "Text"), ("storage", "Option<PalletStorageMetadataV16>"),
        ("calls", "Option<PalletEnumMetadataV16>"), ("event", "Option<PalletEnumMetadataV16>"),
        ("constants", "Vec<PalletConstantMetadataV16>"), ("error", "Option<PalletEnumMetadataV16>"),
        ("associated_types", "Vec<PalletAssociatedTypeMetadataV16>"),
        ("view_functions", "Vec<PalletViewFunctionMetadataV16>"), ("index", "u8"), ("docs", "Vec<Text>"),
        ("deprecation_info", "ItemDeprecationInfoV16")),
    "TransactionExtensionMetadataV16": _struct(
        ("identifier", "Text"), ("ty", "SiLookupTypeId"), ("implicit", "SiLookupTypeId")),
    "ExtrinsicMetadataV16": _struct(
        ("versions", "HexBytes"), ("address_ty", "SiLookupTypeId"), ("call_ty", "SiLookupTypeId"),
        ("signature_ty", "SiLookupTypeId"),
        ("transaction_extensions_by_version", "Vec<(u8, Vec<Compact<u32>>)>"),
        ("transaction_extensions", "Vec<TransactionExtensionMetadataV16>")),
    "MetadataV16Head": _struct(
        ("types", "PortableRegistry"), ("pallets", "Vec<PalletMetadataV16>"),
        ("extrinsic", "ExtrinsicMetadataV16")),
}
# scalecodec's special classes for these paths need its V14 metadata object: decode them as the
# plain enums / vectors their scale-info definitions describe.
GENERIC_PATHS = ["*::call", "*::runtimecall", "*::runtime::call", "*::event", "*::runtimeevent",
                 "*::runtime::event", "sp_core::bounded::bounded_vec::boundedvec",
                 "sp_core::bounded::weak_bounded_vec::weakboundedvec",
                 "frame_support::storage::bounded_vec::boundedvec",
                 "frame_support::storage::weak_bounded_vec::weakboundedvec"]


def scalecodec_config():
    """A scalecodec runtime configuration whose byte vectors always decode to 0x hex.

    (scalecodec's own Vec<u8> decodes to a str when the bytes happen to be UTF-8.)"""
    from scalecodec.base import RuntimeConfigurationObject
    from scalecodec.type_registry import load_type_registry_preset
    from scalecodec.types import U8, Bytes, Vec

    class HexBytes(Bytes):
        def process(self):
            self.value_object = self.get_next_bytes(self.process_type("Compact<u32>").value)
            return to_hex(self.value_object)

    class HexVec(Vec):
        def process(self):
            if self.runtime_config.get_decoder_class(self.sub_type) is not U8:
                return super().process()
            self.value_object = self.get_next_bytes(self.process_type("Compact<u32>").value)
            return to_hex(self.value_object)

    config = RuntimeConfigurationObject()
    config.update_type_registry(load_type_registry_preset("core"))
    config.update_type_registry({"types": V16_TYPES})
    config.type_registry["types"]["hexbytes"] = HexBytes
    config.type_registry["types"]["vec"] = HexVec
    for path in GENERIC_PATHS:
        config.type_registry["types"].pop(path, None)
    return config


class Metadata:
    """Runtime metadata V16 (`meta` magic + version byte 16), decoded by scalecodec."""

    def __init__(self, path):
        from scalecodec.base import ScaleBytes

        self.ScaleBytes = ScaleBytes
        data = open(path, "rb").read()
        if data[:4] != b"meta":
            raise ValueError(f"{path}: no 'meta' magic")
        if data[4] != 16:
            raise ValueError(f"{path}: RuntimeMetadata V{data[4]}, this script reads V16")
        self.config = scalecodec_config()
        head = self.config.create_scale_object("MetadataV16Head", data=ScaleBytes(data[5:]))
        self.value = head.decode(check_remaining=False)
        registry = head.value_object["types"].value_object["types"].value_object
        self.config.update_from_scale_info_types(registry)
        extrinsic = self.value["extrinsic"]
        self.call_ty = extrinsic["call_ty"]
        self.address_ty = extrinsic["address_ty"]
        self.signature_ty = extrinsic["signature_ty"]
        # Extension version 0 is the one extrinsic v4 uses.
        order = dict(extrinsic["transaction_extensions_by_version"])[0]
        self.extensions = [extrinsic["transaction_extensions"][i] for i in order]

    def type_info(self, type_id):
        return self.config.get_decoder_class(f"scale_info::{type_id}").scale_info_type.value

    def decode(self, type_id, scale_bytes):
        obj = self.config.create_scale_object(f"scale_info::{type_id}", data=scale_bytes)
        return obj.decode(check_remaining=False)

    def decode_bytes(self, type_id, data):
        scale_bytes = self.ScaleBytes(bytes(data))
        value = self.decode(type_id, scale_bytes)
        if scale_bytes.offset != len(data):
            raise ValueError(f"{len(data) - scale_bytes.offset} bytes left over after decoding")
        return value

    def pallet(self, name):
        for pallet in self.value["pallets"]:
            if pallet["name"] == name:
                return pallet
        raise KeyError(f"no pallet {name}")

    def constant(self, pallet, name):
        for constant in self.pallet(pallet)["constants"]:
            if constant["name"] == name:
                return self.decode_bytes(constant["ty"], from_hex(constant["value"]))
        raise KeyError(f"no constant {pallet}.{name}")

    def is_empty_type(self, type_id):
        definition = self.type_info(type_id)["def"]
        return definition in ({"tuple": []}, {"composite": {"fields": []}}) or "phantom" in definition


class MetadataDecoder:
    name = "metadata"

    def __init__(self, metadata):
        self.metadata = metadata

    def _decode(self, type_id, reader):
        scale_bytes = self.metadata.ScaleBytes(reader.data)
        scale_bytes.offset = reader.offset
        value = self.metadata.decode(type_id, scale_bytes)
        reader.offset = scale_bytes.offset
        return value

    def signer(self, reader):
        start = reader.offset
        value = self._decode(self.metadata.address_ty, reader)
        if reader.data[start] != 0:
            raise ValueError(f"signer address {value}: expected MultiAddress::Id")
        return from_hex(value)

    def signature(self, reader):
        ((kind, signature),) = self._decode(self.metadata.signature_ty, reader).items()
        return kind, from_hex(signature)

    def extensions(self, reader):
        found = {}
        for extension in self.metadata.extensions:
            start = reader.offset
            value = self._decode(extension["ty"], reader)
            identifier = extension["identifier"]
            if identifier == "CheckMortality":
                found[identifier] = "immortal" if value == "00" else {"period": value[0], "phase": value[1]}
            elif identifier == "CheckMetadataHash":
                found[identifier] = reader.data[start]  # Mode: Disabled = 0, Enabled = 1
            elif reader.offset > start:
                found[identifier] = value
        return [e["identifier"] for e in self.metadata.extensions], found

    def call(self, reader):
        pallet_index, call_index = reader.data[reader.offset], reader.data[reader.offset + 1]
        ((pallet, inner),) = self._decode(self.metadata.call_ty, reader).items()
        if isinstance(inner, str):  # a call without arguments
            call, args = inner, {}
        else:
            ((call, args),) = inner.items()
        return {"pallet": pallet, "call": call, "args": args,
                "pallet_index": pallet_index, "call_index": call_index}

    def version(self):
        return self.metadata.constant("System", "Version")


def make_decoder(args):
    choice = args.decoder or ("metadata" if args.metadata else "spec")
    if choice == "spec":
        return SpecDecoder()
    if not args.metadata:
        raise ValueError("--decoder metadata needs --metadata PATH")
    return MetadataDecoder(Metadata(args.metadata))


# ---------------------------------------------------------------------------------------------
# Extrinsics.
# ---------------------------------------------------------------------------------------------


def strip_length_prefix(data):
    """An encoded extrinsic is `Compact<len> ‖ body`; accept the body alone too."""
    reader = Reader(data)
    try:
        length = reader.compact()
    except ValueError:
        return data
    return data[reader.offset:] if length == len(data) - reader.offset else data


def parse_extrinsic(decoder, data):
    """Split a v4 extrinsic into its parts; returns (fields, call bytes, explicit bytes, order)."""
    reader = Reader(strip_length_prefix(data))
    version = reader.uint(1)
    if version & 0x7F != EXTRINSIC_VERSION:
        raise ValueError(f"extrinsic version byte {version:#04x}: this script reads version 4")
    fields, explicit, order = {}, b"", []
    if version & SIGNED_BIT:
        signer = decoder.signer(reader)
        kind, signature = decoder.signature(reader)
        start = reader.offset
        order, found = decoder.extensions(reader)
        explicit = reader.data[start:reader.offset]
        fields = {"signer": to_hex(signer), "signer_ss58": ss58_encode(signer),
                  "signature_type": kind, "signature": to_hex(signature)}
        for identifier, field in EXTENSION_FIELDS.items():
            if identifier in found:
                fields[field] = found[identifier]
    call_start = reader.offset
    call = decoder.call(reader)
    reader.done()
    fields = {**call, **fields, "signed": bool(version & SIGNED_BIT), "decoder": decoder.name}
    return fields, reader.data[call_start:], explicit, order


def implicit_data(identifier, fields, args, version):
    """The implicit (additional signed) bytes of one transaction extension."""
    if identifier == "CheckSpecVersion":
        return struct.pack("<I", version["spec_version"])
    if identifier == "CheckTxVersion":
        return struct.pack("<I", version["transaction_version"])
    if identifier == "CheckGenesis":
        return from_hex(args.genesis)
    if identifier == "CheckMortality":
        if fields["era"] == "immortal":
            return from_hex(args.genesis)
        if not args.block_hash:
            raise ValueError("a mortal extrinsic needs --block-hash (the hash of its birth block)")
        return from_hex(args.block_hash)
    if identifier == "CheckMetadataHash":
        if fields["metadata_hash_mode"] == 0:
            return b"\x00"
        if not args.metadata_hash:
            raise ValueError("CheckMetadataHash mode 1 needs --metadata-hash")
        return b"\x01" + from_hex(args.metadata_hash)
    return b""


def signer_payload(decoder, fields, call, explicit, order, args):
    version = dict(decoder.version() or {})
    if args.spec_version is not None:
        version["spec_version"] = args.spec_version
    if args.tx_version is not None:
        version["transaction_version"] = args.tx_version
    if "spec_version" not in version or "transaction_version" not in version:
        raise ValueError("without --metadata, give --spec-version and --tx-version")
    implicit = b""
    for identifier in order:
        part = implicit_data(identifier, fields, args, version)
        if isinstance(decoder, MetadataDecoder):
            check_implicit_type(decoder.metadata, identifier, part)
        implicit += part
    payload = call + explicit + implicit
    return payload, version


def check_implicit_type(metadata, identifier, part):
    """The metadata's implicit type must be empty exactly where this script adds nothing."""
    (extension,) = [e for e in metadata.extensions if e["identifier"] == identifier]
    if not part and not metadata.is_empty_type(extension["implicit"]):
        raise ValueError(f"extension {identifier} has implicit data this script does not know")
    if part:
        metadata.decode_bytes(extension["implicit"], part)


# ---------------------------------------------------------------------------------------------
# Keys and wallets (bittensor-wallet).
# ---------------------------------------------------------------------------------------------


def ss58_encode(public_key, prefix=42):
    """SS58 (bittensor.md 4.1); no SDK needed, so it works with either decoder."""
    body = bytes([prefix]) + bytes(public_key)
    checksum = hashlib.blake2b(b"SS58PRE" + body, digest_size=64).digest()[:2]
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number, text = int.from_bytes(body + checksum, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = alphabet[digit] + text
    return "1" * (len(body + checksum) - len((body + checksum).lstrip(b"\0"))) + text


def verify_signature(public_key=None, ss58=None, message=b"", signature=b""):
    from bittensor_wallet import Keypair

    keypair = Keypair(ss58_address=ss58) if ss58 else Keypair(public_key=to_hex(public_key))
    return bool(keypair.verify(message, signature))


def wallet_version():
    import importlib.metadata

    return importlib.metadata.version("bittensor-wallet")


def make_wallet(path, name, hotkey, coldkey_password=None):
    """A new wallet through the real bittensor_wallet.Wallet, without prompts."""
    from bittensor_wallet import Wallet

    wallet = Wallet(name=name, hotkey=hotkey, path=path)
    wallet.create_new_coldkey(use_password=coldkey_password is not None, overwrite=True, suppress=True,
                              coldkey_password=coldkey_password)
    wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    root = os.path.join(os.path.expanduser(path), name)
    files = sorted(os.path.join(d, f) for d, _, names in os.walk(root) for f in names)
    return {
        "coldkey_ss58": wallet.coldkeypub.ss58_address,
        "coldkey_public": to_hex(wallet.coldkeypub.public_key),
        "coldkey_encrypted": wallet.coldkey_file.is_encrypted(),
        "hotkey_ss58": wallet.hotkey.ss58_address,
        "hotkey_public": to_hex(wallet.hotkey.public_key),
        "files": files,
        "bittensor_wallet": wallet_version(),
    }


def sign_with_wallet(path, name, hotkey, message, key="hotkey", password=None):
    from bittensor_wallet import Wallet

    wallet = Wallet(name=name, hotkey=hotkey, path=path)
    keypair = wallet.get_coldkey(password=password) if key == "coldkey" else wallet.get_hotkey(password=password)
    return {"signature": to_hex(keypair.sign(message)), "ss58": keypair.ss58_address,
            "public": to_hex(keypair.public_key)}


# ---------------------------------------------------------------------------------------------
# Checking the spec table against the metadata.
# ---------------------------------------------------------------------------------------------


def type_name(metadata, type_id):
    """A short name for a registry type, in the spec table's vocabulary."""
    info = metadata.type_info(type_id)
    definition = info["def"]
    if "primitive" in definition:
        return definition["primitive"]
    if "compact" in definition:
        return "Compact"
    if "sequence" in definition:
        return f"Vec<{type_name(metadata, definition['sequence']['type'])}>"
    if "composite" in definition and len(definition["composite"]["fields"]) == 1:
        return type_name(metadata, definition["composite"]["fields"][0]["type"])  # newtypes, BoundedVec
    return info["path"][-1] if info["path"] else str(definition)


def variants(metadata, type_id):
    return {v["index"]: v for v in metadata.type_info(type_id)["def"]["variant"]["variants"]}


def check_spec(metadata):
    runtime_calls = variants(metadata, metadata.call_ty)
    checked = []
    for (pallet_index, call_index), (pallet, call, fields) in sorted(SPEC_CALLS.items()):
        pallet_variant = runtime_calls[pallet_index]
        call_variant = variants(metadata, pallet_variant["fields"][0]["type"])[call_index]
        found = [(f["name"], type_name(metadata, f["type"])) for f in call_variant["fields"]]
        if (pallet_variant["name"], call_variant["name"], found) != (pallet, call, fields):
            raise ValueError(f"spec table {pallet_index}.{call_index} {pallet}.{call} {fields} "
                             f"!= metadata {pallet_variant['name']}.{call_variant['name']} {found}")
        checked.append(f"{pallet}.{call} = {pallet_index}.{call_index}")
    identifiers = [e["identifier"] for e in metadata.extensions]
    if identifiers != [name for name, _ in SPEC_EXTENSIONS]:
        raise ValueError(f"metadata transaction extensions {identifiers} differ from the spec's")
    version = metadata.constant("System", "Version")
    return {"ok": True, "calls": checked, "extensions": identifiers,
            "spec_version": version["spec_version"], "transaction_version": version["transaction_version"]}


# ---------------------------------------------------------------------------------------------
# Self-test on hand-made bytes.
# ---------------------------------------------------------------------------------------------


def vec_u16(values):
    return encode_compact(len(values)) + b"".join(struct.pack("<H", v) for v in values)


def sample_calls():
    """(bytes, expected decode) for every call in the spec table."""
    dest = bytes(range(32))
    commit = bytes(range(256)) * 2  # long enough that the signer payload gets hashed
    return [
        (bytes([7, 0]) + struct.pack("<H", 24) + vec_u16([0, 5, 9]) + vec_u16([1, 65535, 300])
         + struct.pack("<Q", 2010),
         {"netuid": 24, "dests": [0, 5, 9], "weights": [1, 65535, 300], "version_key": 2010}),
        (bytes([7, 119]) + struct.pack("<HB", 24, 1) + vec_u16([3]) + vec_u16([65535]) + struct.pack("<Q", 7),
         {"netuid": 24, "mecid": 1, "dests": [3], "weights": [65535], "version_key": 7}),
        (bytes([7, 4]) + struct.pack("<HI", 24, 9010001) + (0x0A000001).to_bytes(16, "little")
         + struct.pack("<HBBBB", 8091, 4, 4, 0, 0),
         {"netuid": 24, "version": 9010001, "ip": 0x0A000001, "port": 8091, "ip_type": 4, "protocol": 4,
          "placeholder1": 0, "placeholder2": 0}),
        (bytes([7, 113]) + struct.pack("<H", 24) + encode_compact(5) + b"hello" + struct.pack("<QH", 123456, 4),
         {"netuid": 24, "commit": to_hex(b"hello"), "reveal_round": 123456, "commit_reveal_version": 4}),
        (bytes([7, 118]) + struct.pack("<HB", 24, 0) + encode_compact(len(commit)) + commit
         + struct.pack("<QH", 99, 4),
         {"netuid": 24, "mecid": 0, "commit": to_hex(commit), "reveal_round": 99, "commit_reveal_version": 4}),
        (bytes([5, 3, 0]) + dest + encode_compact(5 * 10**9),
         {"dest": to_hex(dest), "value": 5 * 10**9}),
        (bytes([5, 0, 0]) + dest + encode_compact(2**64 - 1),
         {"dest": to_hex(dest), "value": 2**64 - 1}),
    ]


def sign_extrinsic(keypair, call, era, nonce, tip, version, genesis, birth_hash):
    """A signed v4 extrinsic for spec 365's extension list, with the length prefix."""
    explicit = era + encode_compact(nonce) + encode_compact(tip) + b"\x00"
    implicit = struct.pack("<II", version["spec_version"], version["transaction_version"]) \
        + genesis + birth_hash + b"\x00"
    payload = call + explicit + implicit
    if len(payload) > MAX_PLAIN_PAYLOAD:
        payload = blake2_256(payload)
    signature = keypair.sign(payload)
    body = bytes([SIGNED_BIT | EXTRINSIC_VERSION, 0]) + keypair.public_key + b"\x01" + signature + explicit + call
    return encode_compact(len(body)) + body


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def self_test(metadata_path):
    from bittensor_wallet import Keypair

    metadata = Metadata(metadata_path)
    decoders = [SpecDecoder(), MetadataDecoder(metadata)]
    report = check_spec(metadata)
    checks = len(report["calls"])
    for call, expected in sample_calls():
        for decoder in decoders:
            decoded = decoder.call(Reader(call))
            expect(decoded["args"] == expected, f"{decoder.name}: {decoded} != {expected}")
            checks += 1
    version = metadata.constant("System", "Version")
    genesis, birth = blake2_256(b"genesis"), blake2_256(b"birth")
    keypair = Keypair.create_from_uri("//Alice")
    eras = [(b"\x00", "immortal", genesis), (b"\xe5\x03", {"period": 64, "phase": 62}, birth)]
    for (call, expected), (era, era_json, birth_hash) in zip(sample_calls(), eras * 4):
        extrinsic = sign_extrinsic(keypair, call, era, 70000, 17, version, genesis, birth_hash)
        parsed = [parse_extrinsic(d, extrinsic) for d in decoders]
        fields = [{k: v for k, v in p[0].items() if k != "decoder"} for p in parsed]
        expect(fields[0] == fields[1], f"decoders differ: {fields}")
        expect(fields[0]["args"] == expected and fields[0]["era"] == era_json, f"fields {fields[0]}")
        expect((fields[0]["nonce"], fields[0]["tip"]) == (70000, 17), "nonce/tip")
        expect(fields[0]["signer_ss58"] == keypair.ss58_address, "signer ss58")
        for decoder, (parsed_fields, call_bytes, explicit, order) in zip(decoders, parsed):
            args = argparse.Namespace(genesis=to_hex(genesis), block_hash=to_hex(birth), metadata_hash=None,
                                      spec_version=None if decoder.version() else version["spec_version"],
                                      tx_version=None if decoder.version() else version["transaction_version"])
            payload, _ = signer_payload(decoder, parsed_fields, call_bytes, explicit, order, args)
            signed = blake2_256(payload) if len(payload) > MAX_PLAIN_PAYLOAD else payload
            expect(verify_signature(keypair.public_key, message=signed, signature=from_hex(parsed_fields["signature"])),
                   f"{decoder.name}: signature does not verify")
            expect(not verify_signature(keypair.public_key, message=signed + b"x",
                                        signature=from_hex(parsed_fields["signature"])), "tampered verifies")
            checks += 2
    wallet = self_test_wallet()
    return {"ok": True, "checks": checks + wallet, "spec_version": version["spec_version"],
            "transaction_version": version["transaction_version"]}


def self_test_wallet():
    import tempfile

    with tempfile.TemporaryDirectory() as path:
        made = make_wallet(path, "w", "h", coldkey_password="omega-test-pw")
        message = b"omega self-test"
        signed = sign_with_wallet(path, "w", "h", message)
        expect(signed["ss58"] == made["hotkey_ss58"], "sign used another key")
        expect(verify_signature(ss58=made["hotkey_ss58"], message=message, signature=from_hex(signed["signature"])),
               "wallet signature does not verify")
        expect(made["coldkey_encrypted"], "coldkey not encrypted")
        expect(open(os.path.join(path, "w", "coldkey"), "rb").read(5) == b"$NACL", "coldkey not $NACL")
        expect(ss58_encode(from_hex(made["hotkey_public"])) == made["hotkey_ss58"], "ss58_encode")
    return 4


# ---------------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------------


def cmd_decode_call(args):
    decoder, reader = make_decoder(args), Reader(from_hex(args.hex))
    decoded = decoder.call(reader)
    reader.done()
    return {**decoded, "decoder": decoder.name}


def cmd_decode_extrinsic(args):
    return parse_extrinsic(make_decoder(args), from_hex(args.hex))[0]


def cmd_verify_extrinsic(args):
    decoder = make_decoder(args)
    fields, call, explicit, order = parse_extrinsic(decoder, from_hex(args.hex))
    if not fields["signed"]:
        raise ValueError("the extrinsic is not signed")
    payload, version = signer_payload(decoder, fields, call, explicit, order, args)
    hashed = len(payload) > MAX_PLAIN_PAYLOAD
    signed = blake2_256(payload) if hashed else payload
    valid = fields["signature_type"] == "Sr25519" and verify_signature(
        from_hex(fields["signer"]), message=signed, signature=from_hex(fields["signature"]))
    return {"valid": valid, "signer": fields["signer"], "signer_ss58": fields["signer_ss58"],
            "spec_version": version["spec_version"], "tx_version": version["transaction_version"],
            "payload": to_hex(payload), "payload_hashed": hashed, "decoder": decoder.name}


def cmd_check_extrinsics(args):
    """Many extrinsics, one metadata load: each decoded by both decoders, its signature checked."""
    by_metadata = MetadataDecoder(Metadata(args.metadata))
    by_spec = SpecDecoder()
    results = []
    for text in args.hex:
        data = from_hex(text)
        fields, call, explicit, order = parse_extrinsic(by_metadata, data)
        payload, _ = signer_payload(by_metadata, fields, call, explicit, order, args)
        signed = blake2_256(payload) if len(payload) > MAX_PLAIN_PAYLOAD else payload
        valid = fields["signature_type"] == "Sr25519" and verify_signature(
            from_hex(fields["signer"]), message=signed, signature=from_hex(fields["signature"]))
        results.append({"metadata": fields, "spec": parse_extrinsic(by_spec, data)[0], "valid": valid})
    return {"extrinsics": results}


def cmd_tlock_decrypt(args):
    """bittensor-drand opens a chain commit with a round's signature: the input it wants is
    compact(len) + commit + round (u64 little-endian)."""
    import bittensor_drand

    commit = from_hex(args.commit)
    user_data = encode_compact(len(commit)) + commit + struct.pack("<Q", args.round)
    plain = bittensor_drand.decrypt_with_signature(user_data, args.signature.removeprefix("0x"))
    return {"plaintext": to_hex(bytes(plain))}


def cmd_tlock_commit(args):
    """bittensor-drand's own commit and reveal round (its clock; modulo-tempo epochs)."""
    import bittensor_drand

    commit, reveal_round = bittensor_drand.get_encrypted_commit(
        [0], [65535], 1, args.tempo, args.block, args.netuid, args.reveal_period, 12.0, bytes(32))
    return {"reveal_round": reveal_round, "commit_length": len(commit)}


def cmd_verify(args):
    return {"valid": verify_signature(ss58=args.ss58, message=from_hex(args.message),
                                      signature=from_hex(args.signature))}


def cmd_make_wallet(args):
    return make_wallet(args.path, args.name, args.hotkey, args.coldkey_password)


def cmd_sign(args):
    return sign_with_wallet(args.path, args.name, args.hotkey, from_hex(args.message), args.key, args.password)


def cmd_check_spec(args):
    return check_spec(Metadata(args.metadata))


def cmd_self_test(args):
    return self_test(args.metadata)


def parser():
    top = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = top.add_subparsers(dest="command", required=True)

    def command(name, handler, help_text):
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(handler=handler)
        return p

    def decoding(p):
        p.add_argument("--metadata", help="RuntimeMetadata V16 file (`meta` + V16)")
        p.add_argument("--decoder", choices=["metadata", "spec"],
                       help="default: metadata when --metadata is given, else spec")
        p.add_argument("hex")

    decoding(command("decode-call", cmd_decode_call, "decode a bare call"))
    decoding(command("decode-extrinsic", cmd_decode_extrinsic, "decode a v4 extrinsic"))
    p = command("verify-extrinsic", cmd_verify_extrinsic, "check a signed extrinsic's signature")
    decoding(p)
    p.add_argument("--genesis", required=True, help="genesis hash")
    p.add_argument("--block-hash", help="birth block hash, for a mortal era")
    p.add_argument("--spec-version", type=int, help="default: System.Version from --metadata")
    p.add_argument("--tx-version", type=int, help="default: System.Version from --metadata")
    p.add_argument("--metadata-hash", help="for CheckMetadataHash mode 1")
    p = command("check-extrinsics", cmd_check_extrinsics, "decode (both decoders) and verify many")
    p.add_argument("--metadata", required=True)
    p.add_argument("--genesis", required=True)
    p.add_argument("--block-hash")
    p.add_argument("--spec-version", type=int)
    p.add_argument("--tx-version", type=int)
    p.add_argument("--metadata-hash")
    p.add_argument("hex", nargs="+")
    p = command("tlock-decrypt", cmd_tlock_decrypt, "bittensor-drand decrypts a commit")
    p.add_argument("--commit", required=True, help="hex, the chain's layout")
    p.add_argument("--round", required=True, type=int)
    p.add_argument("--signature", required=True, help="the round's quicknet signature, hex")
    p = command("tlock-commit", cmd_tlock_commit, "bittensor-drand's commit round")
    for name in ("block", "netuid", "tempo", "reveal-period"):
        p.add_argument(f"--{name}", required=True, type=int)
    p = command("verify", cmd_verify, "check an sr25519 signature")
    p.add_argument("--ss58", required=True)
    p.add_argument("--message", required=True, help="hex")
    p.add_argument("--signature", required=True, help="hex")
    for name, handler in (("make-wallet", cmd_make_wallet), ("sign", cmd_sign)):
        p = command(name, handler, "bittensor_wallet.Wallet")
        p.add_argument("--path", required=True)
        p.add_argument("--name", required=True)
        p.add_argument("--hotkey", required=True)
    sub.choices["make-wallet"].add_argument("--coldkey-password", help="default: unencrypted coldkey")
    sub.choices["sign"].add_argument("--message", required=True, help="hex")
    sub.choices["sign"].add_argument("--key", choices=["hotkey", "coldkey"], default="hotkey")
    sub.choices["sign"].add_argument("--password", help="for an encrypted key")
    for name, handler in (("check-spec", cmd_check_spec), ("self-test", cmd_self_test)):
        command(name, handler, name).add_argument("--metadata", required=True)
    return top


def main():
    args = parser().parse_args()
    try:
        result = args.handler(args)
    except Exception as error:  # one line on stderr, non-zero exit
        print(f"sdk_chain.py {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    ANSWER.write(json.dumps(result) + "\n")
    ANSWER.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
