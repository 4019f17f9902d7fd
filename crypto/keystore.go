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
	"runtime"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/text/unicode/norm"
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

// Profile is what the passphrase unlocks: the member identity and the
// storage key.
type Profile struct {
	Identity   *Identity
	StorageKey StorageKey
}

// Keystore errors about the duress passphrase.
var (
	// ErrSamePassphrase is returned when the duress passphrase equals the
	// real one, after normalisation ([NormalizePassphrase]).
	ErrSamePassphrase = errors.New("the duress passphrase must differ from the passphrase")
	// ErrKeystoreChanged is returned by [Keystore.SetDuressTargets] when the
	// file was changed by someone else since it was opened (for example
	// `takecare duress` while the daemon runs).
	ErrKeystoreChanged = errors.New("the keystore changed since it was opened")
)

// NormalizePassphrase returns p in Unicode Normalization Form C (UAX #15),
// so that the same visible text typed on two keyboards (a precomposed "ñ"
// or "n" plus a combining tilde) derives the same key. Every passphrase is
// normalised before it is used. The result is always a new slice, which the
// caller may clear.
func NormalizePassphrase(p []byte) []byte { return norm.NFC.Append(nil, p...) }

// Keystore file layout, version 2 (PROTOCOL.md, "Keystore"):
//
//	magic "TCKS" | version 2 | time u32 | memory KiB u32 | threads u8 | slot | slot
//	slot = salt(16) | nonce(24) | XChaCha20-Poly1305(slotPlainSize bytes)
//
// One slot holds the profile, under the passphrase; the other holds the
// duress kit, under the duress passphrase if one is set, else under a
// random key that nothing derives. Both are real ciphertexts of the same
// size, rewritten together, so the file does not say whether a duress
// passphrase is set.
const (
	ksMagic       = "TCKS"
	ksVersion     = 2
	ksHeaderSize  = 4 + 1 + 4 + 4 + 1
	slotPlainSize = 4096
	slotSize      = 16 + 24 + slotPlainSize + 16
	ksFileSize    = ksHeaderSize + 2*slotSize

	// Version 1, read only to upgrade it.
	ksVersion1      = 1
	slotPlainSizeV1 = 1024
	slotSizeV1      = 16 + 24 + slotPlainSizeV1 + 16
	ksFileSizeV1    = ksHeaderSize + 2*slotSizeV1
)

// Slot plaintext kinds.
const (
	slotProfile = 1 // the profile
	slotKit     = 2 // version 2: the duress kit; version 1: the profile again, marked as duress
)

// Keystore is an opened keystore file. Opened with the passphrase it holds
// the [Profile] and can update the duress kit's list of nodes to warn
// ([Keystore.SetDuressTargets]); opened with the duress passphrase it holds
// only the [DuressKit]. It is not safe for concurrent use.
type Keystore struct {
	path    string
	params  KeystoreParams
	salts   [2][16]byte
	keys    [2][]byte // slot keys; keys[main^1] only when opened with the passphrase
	main    int       // the slot holding the profile: 0 in what this version writes
	profile *Profile
	kit     *DuressKit
	targets []DuressTarget // kept when the profile is resealed
}

// Profile returns the profile, or nil if the keystore was opened with the
// duress passphrase.
func (k *Keystore) Profile() *Profile { return k.profile }

// Duress returns the duress kit if the keystore was opened with the duress
// passphrase, else nil. The caller must then warn the groups with it
// (node.RaiseDuress), destroy the home and start an empty profile.
func (k *Keystore) Duress() *DuressKit { return k.kit }

// Close forgets the slot keys, as far as Go allows.
func (k *Keystore) Close() {
	for i := range k.keys {
		clear(k.keys[i])
	}
}

// CreateKeystore writes a new keystore at path holding p, sealed under
// passphrase (normalised, [NormalizePassphrase]), with no duress
// passphrase, and returns it open. It refuses to overwrite an existing
// file ([ErrKeystoreExists]).
func CreateKeystore(path string, passphrase []byte, p Profile, params KeystoreParams) (*Keystore, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("crypto: empty passphrase")
	}
	if !params.valid() {
		return nil, fmt.Errorf("crypto: keystore parameters %+v out of range", params)
	}
	if _, err := os.Stat(path); err == nil {
		return nil, ErrKeystoreExists
	}
	k := &Keystore{path: path, params: params, profile: &p}
	k.rekey(passphrase, nil)
	if err := k.write(); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// rekey gives both slots fresh salts: the profile's key derives from
// passphrase, the kit's from duress, or is random if duress is nil.
func (k *Keystore) rekey(passphrase, duress []byte) {
	k.Close()
	for i := range k.salts {
		rand.Read(k.salts[i][:])
	}
	pass := NormalizePassphrase(passphrase)
	defer clear(pass)
	k.keys[k.main] = slotKey(pass, k.salts[k.main][:], k.params)
	if duress == nil {
		k.keys[k.main^1] = make([]byte, chacha20poly1305.KeySize)
		rand.Read(k.keys[k.main^1])
		return
	}
	d := NormalizePassphrase(duress)
	defer clear(d)
	k.keys[k.main^1] = slotKey(d, k.salts[k.main^1][:], k.params)
}

// write seals both slots with fresh nonces and writes the file atomically.
func (k *Keystore) write() error {
	plain, err := marshalProfile(*k.profile, k.keys[k.main^1])
	if err != nil {
		return err
	}
	defer clear(plain)
	id := k.profile.Identity
	kit := marshalKit(id.duress.Seed(), id.ID(), id.name, k.targets)
	defer clear(kit)
	hdr := k.header()
	file := append([]byte(nil), hdr...)
	for i := range 2 {
		pt := kit
		if i == k.main {
			pt = plain
		}
		file = append(file, sealSlot(hdr, k.salts[i][:], k.keys[i], pt)...)
	}
	return writeFileAtomic(k.path, file, 0o600)
}

func (k *Keystore) header() []byte {
	hdr := make([]byte, 0, ksHeaderSize)
	hdr = append(hdr, ksMagic...)
	hdr = append(hdr, ksVersion)
	hdr = binary.BigEndian.AppendUint32(hdr, k.params.Time)
	hdr = binary.BigEndian.AppendUint32(hdr, k.params.MemoryKiB)
	return append(hdr, k.params.Threads)
}

// OpenKeystore opens the keystore at path with passphrase. It derives the
// key of both slots and tries both, whichever matches, so the time taken
// does not tell which passphrase was given.
//
// Opened with the passphrase, it rewrites the file at once with fresh
// nonces in both slots (same size, same salts, new bytes, new file times),
// exactly as it does whether or not a duress passphrase is set; a keystore
// of version 1 is upgraded. Opened with the duress passphrase, it writes
// nothing: the caller destroys the file.
//
// The passphrase is normalised to NFC first. A version 1 keystore may have
// been sealed under another form of the same text, so for those the
// passphrase is also tried as typed and in NFD; the upgrade reseals it
// under the NFC form.
//
// Errors: [ErrNoKeystore], [ErrWrongPassphrase], [ErrCorruptKeystore], or
// an I/O error.
func OpenKeystore(path string, passphrase []byte) (*Keystore, error) {
	k, err := unlock(path, passphrase)
	if err != nil {
		return nil, err
	}
	if k.profile != nil {
		if err := k.write(); err != nil {
			k.Close()
			return nil, err
		}
	}
	return k, nil
}

// VerifyPassphrase reports whether passphrase opens the profile of the
// keystore at path, without writing anything: nil if it does, else
// [ErrWrongPassphrase] (also for the duress passphrase, which opens no
// profile), [ErrNoKeystore] or [ErrCorruptKeystore]. It costs what
// [OpenKeystore] costs.
func VerifyPassphrase(path string, passphrase []byte) error {
	k, err := unlock(path, passphrase)
	if err != nil {
		return err
	}
	defer k.Close()
	if k.profile == nil {
		return ErrWrongPassphrase
	}
	return nil
}

// unlock opens the keystore without writing it.
func unlock(path string, passphrase []byte) (*Keystore, error) {
	file, params, err := readKeystore(path)
	if err != nil {
		return nil, err
	}
	if file[4] == ksVersion1 {
		return unlockV1(path, file, params, passphrase)
	}
	hdr := file[:ksHeaderSize]
	k := &Keystore{path: path, params: params}
	pass := NormalizePassphrase(passphrase)
	defer clear(pass)
	var plain [2][]byte
	var keys [2][]byte
	for i := range 2 {
		slot := file[ksHeaderSize+i*slotSize : ksHeaderSize+(i+1)*slotSize]
		copy(k.salts[i][:], slot[:16])
		keys[i] = slotKey(pass, slot[:16], params)
		plain[i], _ = openSlot(hdr, keys[i], slot)
	}
	defer clear(plain[0])
	defer clear(plain[1])
	for i := range 2 {
		if plain[i] == nil {
			clear(keys[i])
			continue
		}
		if plain[i][0] == slotKit && k.kit == nil && k.profile == nil {
			if k.kit, err = unmarshalKit(plain[i]); err != nil {
				return nil, err
			}
			continue
		}
		if k.profile != nil || k.kit != nil {
			continue
		}
		p, other, err := unmarshalProfile(plain[i])
		if err != nil {
			return nil, err
		}
		k.profile, k.main = p, i
		k.keys[i] = keys[i]
		k.keys[i^1] = other
		// The kit's list of nodes, to keep when resealing. A damaged kit
		// slot must not lock the member out: it is rebuilt without nodes.
		slot := file[ksHeaderSize+(i^1)*slotSize : ksHeaderSize+(i^1+1)*slotSize]
		if kp, ok := openSlot(hdr, other, slot); ok {
			if kit, err := unmarshalKit(kp); err == nil {
				k.targets = kit.Targets
			}
			clear(kp)
		}
	}
	if k.profile == nil && k.kit == nil {
		return nil, ErrWrongPassphrase
	}
	return k, nil
}

// unlockV1 opens a version 1 keystore and, opened with the passphrase,
// prepares its upgrade: fresh salts, the profile under the NFC form of the
// passphrase, a new duress key, no duress passphrase (a version 1 duress
// slot holds the whole profile, which version 2 never does; the member
// sets the duress passphrase again). Opened with a version 1 duress
// passphrase, it yields a kit that warns nobody: a version 1 member record
// has no duress key to verify a warning with.
func unlockV1(path string, file []byte, params KeystoreParams, passphrase []byte) (*Keystore, error) {
	hdr := file[:ksHeaderSize]
	var found []byte
	tried := map[string]bool{}
	for _, form := range [][]byte{NormalizePassphrase(passphrase), passphrase, norm.NFD.Append(nil, passphrase...)} {
		if tried[string(form)] {
			continue
		}
		tried[string(form)] = true
		for i := range 2 {
			slot := file[ksHeaderSize+i*slotSizeV1 : ksHeaderSize+(i+1)*slotSizeV1]
			key := slotKey(form, slot[:16], params)
			if plain, ok := openSlot(hdr, key, slot); ok && found == nil {
				found = plain
			}
			clear(key)
		}
		if found != nil {
			break
		}
	}
	if found == nil {
		return nil, ErrWrongPassphrase
	}
	defer clear(found)
	p, duress, err := unmarshalProfileV1(found)
	if err != nil {
		return nil, err
	}
	if duress {
		_, dk, _ := ed25519.GenerateKey(nil)
		return &Keystore{path: path, params: params, kit: &DuressKit{key: dk}}, nil
	}
	k := &Keystore{path: path, params: params, profile: p}
	k.rekey(passphrase, nil)
	return k, nil
}

// DuressTargets returns the duress kit's list of member nodes to warn, as
// last written (nil when opened with the duress passphrase: see
// [Keystore.Duress]).
func (k *Keystore) DuressTargets() []DuressTarget { return k.targets }

// SetDuressTargets replaces the duress kit's list of member nodes to warn
// and rewrites the keystore, both slots resealed. It needs the keystore
// opened with the passphrase, and fails with [ErrKeystoreChanged] if the
// file is no longer the one opened.
func (k *Keystore) SetDuressTargets(ts []DuressTarget) error {
	if k.profile == nil {
		return errors.New("crypto: the keystore was opened with the duress passphrase")
	}
	file, _, err := readKeystore(k.path)
	if err != nil {
		return err
	}
	for i := range 2 {
		if file[4] != ksVersion || !bytes.Equal(file[ksHeaderSize+i*slotSize:][:16], k.salts[i][:]) {
			return ErrKeystoreChanged
		}
	}
	k.targets = ts
	return k.write()
}

// slotKey stretches the passphrase for one slot with Argon2id (RFC 9106).
// The params.MemoryKiB it fills (64 MiB by default) is garbage once it
// returns, and is collected at once: the slots are stretched one after the
// other, and left to the garbage collector's pace the second would get
// memory of its own, so that opening a keystore peaked at twice the
// memory (a daemon's start at 168 MB, on phones that may have 1 GB).
func slotKey(passphrase, salt []byte, params KeystoreParams) []byte {
	k := argon2.IDKey(passphrase, salt, params.Time, params.MemoryKiB, params.Threads, chacha20poly1305.KeySize)
	runtime.GC()
	return k
}

func sealSlot(hdr, salt, key, plain []byte) []byte {
	slot := make([]byte, 40, 40+len(plain)+chacha20poly1305.Overhead)
	copy(slot, salt)
	rand.Read(slot[16:40])
	aead, _ := chacha20poly1305.NewX(key)
	return aead.Seal(slot, slot[16:40], plain, hdr)
}

func openSlot(hdr, key, slot []byte) ([]byte, bool) {
	aead, _ := chacha20poly1305.NewX(key)
	plain, err := aead.Open(nil, slot[16:40], slot[40:], hdr)
	return plain, err == nil && len(plain) > 0
}

// Profile slot plaintext, version 2 (PROTOCOL.md, "Keystore"):
//
//	kind 0x01 | name len u8 | name | sign seed(32) | kem seed(32) | storage key(32)
//	| node key len u16 | node key (libp2p protobuf) | duress seed(32) | kit slot key(32) | zeros
//
// Version 1 ends after the node key; its kind 0x02 marks the same profile
// under the duress passphrase.
func marshalProfile(p Profile, kitKey []byte) ([]byte, error) {
	id := p.Identity
	if len(id.name) > 255 {
		return nil, errors.New("crypto: name longer than 255 bytes")
	}
	// Not cleared: crypto/hpke returns the key's own seed, not a copy, and
	// clearing it would make the next write seal a zero seed.
	kemSeed, err := id.kem.Bytes()
	if err != nil {
		return nil, fmt.Errorf("crypto: HPKE key: %w", err)
	}
	node, err := p2pcrypto.MarshalPrivateKey(id.node)
	if err != nil {
		return nil, fmt.Errorf("crypto: node key: %w", err)
	}
	defer clear(node)
	b := make([]byte, 0, slotPlainSize)
	b = append(b, slotProfile, byte(len(id.name)))
	b = append(b, id.name...)
	b = append(b, id.sign.Seed()...)
	b = append(b, kemSeed...)
	b = append(b, p.StorageKey.k[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(node)))
	b = append(b, node...)
	b = append(b, id.duress.Seed()...)
	b = append(b, kitKey...)
	if len(b) > slotPlainSize {
		return nil, errors.New("crypto: profile does not fit a keystore slot")
	}
	return b[:slotPlainSize], nil
}

// unmarshalProfile reads a version 2 profile slot and returns the profile
// and the kit slot's key.
func unmarshalProfile(b []byte) (*Profile, []byte, error) {
	r := bytes.NewReader(b)
	if kind, err := r.ReadByte(); err != nil || kind != slotProfile {
		return nil, nil, ErrCorruptKeystore
	}
	p, err := readProfile(r)
	if err != nil {
		return nil, nil, err
	}
	duress := make([]byte, ed25519.SeedSize)
	defer clear(duress)
	kitKey := make([]byte, chacha20poly1305.KeySize)
	for _, f := range [][]byte{duress, kitKey} {
		if _, err := io.ReadFull(r, f); err != nil {
			return nil, nil, ErrCorruptKeystore
		}
	}
	p.Identity.duress = ed25519.NewKeyFromSeed(duress)
	return p, kitKey, nil
}

// unmarshalProfileV1 reads a version 1 slot. The identity gets a new duress
// key, which version 1 did not have.
func unmarshalProfileV1(b []byte) (p *Profile, duress bool, err error) {
	r := bytes.NewReader(b)
	kind, err := r.ReadByte()
	if err != nil || (kind != slotProfile && kind != slotKit) {
		return nil, false, ErrCorruptKeystore
	}
	if p, err = readProfile(r); err != nil {
		return nil, false, err
	}
	_, p.Identity.duress, _ = ed25519.GenerateKey(nil)
	return p, kind == slotKit, nil
}

// readProfile reads the fields versions 1 and 2 share, after the kind.
func readProfile(r *bytes.Reader) (*Profile, error) {
	n, err := r.ReadByte()
	if err != nil {
		return nil, ErrCorruptKeystore
	}
	name := make([]byte, n)
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
	id, err := newIdentity(string(name), ed25519.NewKeyFromSeed(signSeed), k, nodeKey, nil)
	if err != nil {
		return nil, ErrCorruptKeystore
	}
	return &Profile{Identity: id, StorageKey: sk}, nil
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

// readKeystore reads and checks a keystore file of version 1 or 2.
func readKeystore(path string) (file []byte, params KeystoreParams, err error) {
	file, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, params, ErrNoKeystore
	}
	if err != nil {
		return nil, params, fmt.Errorf("crypto: reading keystore: %w", err)
	}
	if len(file) < ksHeaderSize || string(file[:4]) != ksMagic ||
		!(file[4] == ksVersion && len(file) == ksFileSize || file[4] == ksVersion1 && len(file) == ksFileSizeV1) {
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

// SetDuress sets (or replaces) the duress passphrase of the keystore at
// path, which must open with passphrase (the duress passphrase cannot
// change itself). Both are normalised first and must then differ
// ([ErrSamePassphrase]). Opened with the duress passphrase, the keystore
// yields only the [DuressKit]. Both slots get fresh salts, exactly as
// [ClearDuress] does, so neither leaves a trace that the other would not.
func SetDuress(path string, passphrase, duress []byte) error {
	if len(duress) == 0 {
		return errors.New("crypto: empty duress passphrase")
	}
	a, b := NormalizePassphrase(passphrase), NormalizePassphrase(duress)
	same := bytes.Equal(a, b)
	clear(a)
	clear(b)
	if same {
		return ErrSamePassphrase
	}
	return changeDuress(path, passphrase, duress)
}

// ClearDuress removes the duress passphrase of the keystore at path, which
// must open with passphrase: the kit is sealed under a random key again.
func ClearDuress(path string, passphrase []byte) error {
	return changeDuress(path, passphrase, nil)
}

func changeDuress(path string, passphrase, duress []byte) error {
	k, err := unlock(path, passphrase)
	if err != nil {
		return err
	}
	defer k.Close()
	if k.profile == nil {
		return ErrWrongPassphrase
	}
	k.rekey(passphrase, duress)
	return k.write()
}
