package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Keystore errors callers branch on.
var (
	ErrWrongPassphrase = errors.New("wrong passphrase")
	ErrNoKeystore      = errors.New("no keystore (run takecare init first)")
	ErrKeystoreExists  = errors.New("a keystore already exists here")
	ErrCorruptKeystore = errors.New("keystore file is damaged")
)

// KeystoreParams are the Argon2id parameters for deriving the key that seals
// the keystore from the passphrase.
type KeystoreParams struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// valid bounds the parameters a keystore file may ask for: a tampered file
// must not make unlocking take minutes or exhaust a phone's memory. The
// bounds are 16 passes and 512 MiB, eight times the defaults.
func (p KeystoreParams) valid() bool {
	return p.Time >= 1 && p.Time <= 16 && p.MemoryKiB >= 8 && p.MemoryKiB <= 512<<10 && p.Threads >= 1 && p.Threads <= 64
}

// DefaultKeystoreParams follow the second recommendation of RFC 9106: t=3,
// 64 MiB, 4 lanes. About a quarter of a second on a phone-class core.
var DefaultKeystoreParams = KeystoreParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// StorageKey is the random key the store seals its records with. It lives only
// inside the keystore.
type StorageKey struct{ k [32]byte }

// NewStorageKey returns a fresh random storage key.
func NewStorageKey() StorageKey {
	var s StorageKey
	rand.Read(s.k[:])
	return s
}

// String never prints the key.
func (StorageKey) String() string { return "StorageKey(redacted)" }

// Profile is what a passphrase unlocks: the member identity and the storage
// key. Duress is true when it was unlocked with the duress passphrase
// ([SetDuress]): the caller must then warn the group, destroy the profile
// and show an empty one.
type Profile struct {
	Identity   *Identity
	StorageKey StorageKey
	Duress     bool
}

// ErrSamePassphrase is returned when the duress passphrase equals the real
// one.
var ErrSamePassphrase = errors.New("the duress passphrase must differ from the passphrase")

// Keystore file layout (PROTOCOL.md, "Keystore"):
//
//	magic "TCKS" | version 1 | time u32 | memory KiB u32 | threads u8 | slot | slot
//	slot = salt(16) | nonce(24) | XChaCha20-Poly1305(slotPlainSize bytes)
//
// Two slots always exist so that the file does not say whether a second
// passphrase is configured; an unused slot is random bytes.
const (
	ksMagic       = "TCKS"
	ksVersion     = 1
	ksHeaderSize  = 4 + 1 + 4 + 4 + 1
	slotPlainSize = 1024
	slotSize      = 16 + 24 + slotPlainSize + 16
	ksFileSize    = ksHeaderSize + 2*slotSize
)

// CreateKeystore writes a new keystore at path holding p, sealed under
// passphrase. It refuses to overwrite an existing file.
func CreateKeystore(path string, passphrase []byte, p Profile, params KeystoreParams) error {
	if len(passphrase) == 0 {
		return errors.New("crypto: empty passphrase")
	}
	if !params.valid() {
		return fmt.Errorf("crypto: keystore parameters %+v out of range", params)
	}
	if _, err := os.Stat(path); err == nil {
		return ErrKeystoreExists
	}
	plain, err := marshalProfile(p)
	if err != nil {
		return err
	}
	defer clear(plain)
	hdr := make([]byte, 0, ksHeaderSize)
	hdr = append(hdr, ksMagic...)
	hdr = append(hdr, ksVersion)
	hdr = binary.BigEndian.AppendUint32(hdr, params.Time)
	hdr = binary.BigEndian.AppendUint32(hdr, params.MemoryKiB)
	hdr = append(hdr, params.Threads)
	file := append([]byte(nil), hdr...)
	file = append(file, sealSlot(hdr, passphrase, params, plain)...)
	unused := make([]byte, slotSize)
	rand.Read(unused)
	file = append(file, unused...)
	return writeFileAtomic(path, file, 0o600)
}

// OpenKeystore opens the keystore at path with passphrase.
func OpenKeystore(path string, passphrase []byte) (*Profile, error) {
	file, params, err := readKeystore(path)
	if err != nil {
		return nil, err
	}
	hdr := file[:ksHeaderSize]
	// Try both slots every time, so timing does not tell which one matched.
	var found []byte
	for i := range 2 {
		slot := file[ksHeaderSize+i*slotSize : ksHeaderSize+(i+1)*slotSize]
		if plain, ok := openSlot(hdr, passphrase, params, slot); ok && found == nil {
			found = plain
		}
	}
	if found == nil {
		return nil, ErrWrongPassphrase
	}
	defer clear(found)
	return unmarshalProfile(found)
}

func slotKey(passphrase, salt []byte, params KeystoreParams) []byte {
	return argon2.IDKey(passphrase, salt, params.Time, params.MemoryKiB, params.Threads, chacha20poly1305.KeySize)
}

func sealSlot(hdr, passphrase []byte, params KeystoreParams, plain []byte) []byte {
	slot := make([]byte, 40, slotSize)
	rand.Read(slot[:40])
	key := slotKey(passphrase, slot[:16], params)
	defer clear(key)
	aead, _ := chacha20poly1305.NewX(key)
	return aead.Seal(slot, slot[16:40], plain, hdr)
}

func openSlot(hdr, passphrase []byte, params KeystoreParams, slot []byte) ([]byte, bool) {
	key := slotKey(passphrase, slot[:16], params)
	defer clear(key)
	aead, _ := chacha20poly1305.NewX(key)
	plain, err := aead.Open(nil, slot[16:40], slot[40:], hdr)
	return plain, err == nil
}

// Slot plaintext kinds.
const (
	profileNormal = 1
	profileDuress = 2
)

// Slot plaintext: kind (1 normal, 2 duress) | name len u8 | name | sign seed(32) | kem seed(32)
// | storage key(32) | node key len u16 | node key (libp2p protobuf) | zeros.
func marshalProfile(p Profile) ([]byte, error) {
	id := p.Identity
	if len(id.name) > 255 {
		return nil, errors.New("crypto: name longer than 255 bytes")
	}
	kemSeed, err := id.kem.Bytes()
	if err != nil {
		return nil, fmt.Errorf("crypto: HPKE key: %w", err)
	}
	defer clear(kemSeed)
	node, err := p2pcrypto.MarshalPrivateKey(id.node)
	if err != nil {
		return nil, fmt.Errorf("crypto: node key: %w", err)
	}
	defer clear(node)
	b := make([]byte, 0, slotPlainSize)
	kind := byte(profileNormal)
	if p.Duress {
		kind = profileDuress
	}
	b = append(b, kind, byte(len(id.name)))
	b = append(b, id.name...)
	b = append(b, id.sign.Seed()...)
	b = append(b, kemSeed...)
	b = append(b, p.StorageKey.k[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(node)))
	b = append(b, node...)
	if len(b) > slotPlainSize {
		return nil, errors.New("crypto: profile does not fit a keystore slot")
	}
	return b[:slotPlainSize], nil
}

func unmarshalProfile(b []byte) (*Profile, error) {
	r := bytes.NewReader(b)
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || (hdr[0] != profileNormal && hdr[0] != profileDuress) {
		return nil, ErrCorruptKeystore
	}
	name := make([]byte, hdr[1])
	signSeed := make([]byte, ed25519.SeedSize)
	kemSeed := make([]byte, 32)
	var sk StorageKey
	var nodeLen uint16
	for _, f := range [][]byte{name, signSeed, kemSeed, sk.k[:]} {
		if _, err := io.ReadFull(r, f); err != nil {
			return nil, ErrCorruptKeystore
		}
	}
	defer clear(signSeed)
	defer clear(kemSeed)
	if err := binary.Read(r, binary.BigEndian, &nodeLen); err != nil {
		return nil, ErrCorruptKeystore
	}
	node := make([]byte, nodeLen)
	if _, err := io.ReadFull(r, node); err != nil {
		return nil, ErrCorruptKeystore
	}
	nodeKey, err := p2pcrypto.UnmarshalPrivateKey(node)
	if err != nil {
		return nil, ErrCorruptKeystore
	}
	k, err := kem.NewPrivateKey(kemSeed)
	if err != nil {
		return nil, ErrCorruptKeystore
	}
	id, err := newIdentity(string(name), ed25519.NewKeyFromSeed(signSeed), k, nodeKey)
	if err != nil {
		return nil, ErrCorruptKeystore
	}
	return &Profile{Identity: id, StorageKey: sk, Duress: hdr[0] == profileDuress}, nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so a crash leaves either the old or the new file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("crypto: writing keystore: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("crypto: writing keystore: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("crypto: writing keystore: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("crypto: writing keystore: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("crypto: writing keystore: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("crypto: writing keystore: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// DestroyKeystore overwrites the keystore at path with random bytes, syncs
// and removes it. Without it the store cannot be opened. On flash storage
// the overwrite may not reach the old blocks; the passphrase still protects
// any copy that survives.
func DestroyKeystore(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("crypto: destroying keystore: %w", err)
	}
	junk := make([]byte, ksFileSize)
	rand.Read(junk)
	f.WriteAt(junk, 0)
	f.Sync()
	f.Close()
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("crypto: destroying keystore: %w", err)
	}
	return nil
}

// readKeystore reads and checks a keystore file.
func readKeystore(path string) (file []byte, params KeystoreParams, err error) {
	file, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, params, ErrNoKeystore
	}
	if err != nil {
		return nil, params, fmt.Errorf("crypto: reading keystore: %w", err)
	}
	if len(file) != ksFileSize || string(file[:4]) != ksMagic || file[4] != ksVersion {
		return nil, params, ErrCorruptKeystore
	}
	hdr := file[:ksHeaderSize]
	params = KeystoreParams{
		Time:      binary.BigEndian.Uint32(hdr[5:9]),
		MemoryKiB: binary.BigEndian.Uint32(hdr[9:13]),
		Threads:   hdr[13],
	}
	if !params.valid() {
		return nil, params, ErrCorruptKeystore
	}
	return file, params, nil
}

// openMainSlot reads the keystore at path and opens its first slot, the
// normal one, with passphrase: the check that SetDuress and ClearDuress
// make before changing the second.
func openMainSlot(path string, passphrase []byte) (file []byte, params KeystoreParams, plain []byte, err error) {
	file, params, err = readKeystore(path)
	if err != nil {
		return nil, params, nil, err
	}
	plain, ok := openSlot(file[:ksHeaderSize], passphrase, params, file[ksHeaderSize:ksHeaderSize+slotSize])
	if !ok {
		return nil, params, nil, ErrWrongPassphrase
	}
	return file, params, plain, nil
}

// SetDuress adds (or replaces) a duress passphrase to the keystore at path,
// which must open with passphrase. Opening the keystore with the duress
// passphrase yields the same identity and storage key with Duress set. The
// file does not say whether a duress passphrase exists: the second slot is
// always present.
func SetDuress(path string, passphrase, duress []byte) error {
	if len(duress) == 0 {
		return errors.New("crypto: empty duress passphrase")
	}
	if bytes.Equal(passphrase, duress) {
		return ErrSamePassphrase
	}
	file, params, plain, err := openMainSlot(path, passphrase)
	if err != nil {
		return err
	}
	defer clear(plain)
	p, err := unmarshalProfile(plain)
	if err != nil {
		return err
	}
	p.Duress = true
	dplain, err := marshalProfile(*p)
	if err != nil {
		return err
	}
	defer clear(dplain)
	out := append([]byte(nil), file[:ksHeaderSize+slotSize]...)
	out = append(out, sealSlot(file[:ksHeaderSize], duress, params, dplain)...)
	return writeFileAtomic(path, out, 0o600)
}

// ClearDuress removes the duress passphrase of the keystore at path, which
// must open with passphrase, by filling the second slot with random bytes.
func ClearDuress(path string, passphrase []byte) error {
	file, _, plain, err := openMainSlot(path, passphrase)
	if err != nil {
		return err
	}
	clear(plain)
	out := append([]byte(nil), file[:ksHeaderSize+slotSize]...)
	unused := make([]byte, slotSize)
	rand.Read(unused)
	return writeFileAtomic(path, append(out, unused...), 0o600)
}
