// Package crypto holds every cryptographic operation of takecare, following
// version 1 of the protocol in docs/PROTOCOL.md.
//
// # Keys
//
// A member has an [Identity]: an Ed25519 signing key, an HPKE key pair
// (MLKEM768-X25519, hybrid post-quantum) through which it receives group
// secrets, and a separate libp2p key for its node. The member's public half is
// [MemberKeys]; its [MemberID] is a hash of both public keys. The libp2p peer
// id is deliberately unrelated to the member id.
//
// A group has a [GroupID] and, per epoch, a 32-byte epoch secret from which
// [EpochKeys] derives the message key, the key tag, the topic name, the sync
// key and the rendezvous key. A new epoch secret reaches each member sealed to
// its HPKE key with [SealEpochSecret].
//
// # Envelopes
//
// [EpochKeys.Seal] signs nothing: it pads and encrypts what [Identity.SignBody]
// produced, binding group id and epoch as associated data, and yields an
// envelope of one of the sizes in [EnvelopeSizes]. [EpochKeys.Open] reverses
// it; [Inner.Verify] checks the author's signature. Callers never choose
// nonces, ciphers or padding.
//
// # At rest
//
// [CreateKeystore] and [OpenKeystore] keep the identity and the storage key in
// a file sealed under a key derived from the passphrase with Argon2id.
// [AtRest] seals records for the store.
//
// All types are safe for concurrent use once built, unless their doc says
// otherwise. Go cannot guarantee that secrets are erased from memory; where
// this package clears ephemeral keys it does so on a best-effort basis.
package crypto
