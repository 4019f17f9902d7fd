package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

// ReadDelimited reads one length-delimited message of at most max bytes
// from r (see ReadDelimitedFrom).
func ReadDelimited(r io.Reader, m proto.Message, max int) error {
	return ReadDelimitedFrom(bufio.NewReader(r), m, max)
}

// ReadDelimitedFrom reads one length-delimited message of at most max
// bytes from a reader kept across messages. The framing is protodelim's (a
// uvarint length, then the message). The memory it takes grows with the
// bytes that arrive, not with the length the peer announces: a peer that
// announces max bytes and sends a few makes this node hold a few
// (protodelim allocates the whole announced length as soon as a buffer's
// worth has come). It returns io.EOF if the stream ends before the message
// starts, io.ErrUnexpectedEOF if it ends inside it.
func ReadDelimitedFrom(r *bufio.Reader, m proto.Message, max int) error {
	size, err := binary.ReadUvarint(r)
	if err != nil {
		return err
	}
	if size > uint64(max) {
		return fmt.Errorf("node: a message of %d bytes is over the limit of %d", size, max)
	}
	var b bytes.Buffer
	b.Grow(int(min(size, 64<<10)))
	if _, err := io.CopyN(&b, r, int64(size)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return proto.Unmarshal(b.Bytes(), m)
}
