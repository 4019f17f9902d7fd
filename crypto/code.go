package crypto

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
)

// The text codes people pass on by hand (invite codes, relay codes) share
// one framing: a prefix, then unpadded base32 (RFC 4648 section 6) of the
// body followed by its CRC-32 (IEEE), big-endian.

// codeFault says why decodeCode refused a code.
type codeFault int

const (
	codeOK        codeFault = iota
	codeNoPrefix            // it does not start with the prefix
	codeMalformed           // not canonical base32, or too short to hold a CRC
	codeChecksum            // the CRC does not match: a character is wrong
)

// encodeCode returns prefix and the base32 of body and its CRC-32.
func encodeCode(prefix string, body []byte) string {
	b := binary.BigEndian.AppendUint32(body, crc32.ChecksumIEEE(body))
	return prefix + inviteEncoding.EncodeToString(b)
}

// decodeCode reverses encodeCode, ignoring case, spaces and line breaks (a
// code copied from a chat still works), and returns the body without its
// CRC. Only the canonical encoding is accepted: the last character may
// carry unused bits that the decoder ignores, and a mistyped character
// there is caught like anywhere else.
func decodeCode(prefix, s string) ([]byte, codeFault) {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if !strings.HasPrefix(s, prefix) {
		return nil, codeNoPrefix
	}
	s = s[len(prefix):]
	b, err := inviteEncoding.DecodeString(s)
	if err != nil || len(b) < 5 || inviteEncoding.EncodeToString(b) != s {
		return nil, codeMalformed
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, codeChecksum
	}
	return body, codeOK
}
