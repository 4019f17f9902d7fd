package syncer

import (
	"bufio"

	"github.com/libp2p/go-libp2p/core/network"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/takecare-network/takecare/node/internal/wire"
)

// The framing of a sync session's stream: length-delimited protocol
// messages, of at most maxMessage bytes, counted both ways.

// countingStream counts bytes both ways and buffers reads.
type countingStream struct {
	s        network.Stream
	r        *bufio.Reader
	sent     int64
	received int64
}

func (c *countingStream) Read(p []byte) (int, error) {
	n, err := c.s.Read(p)
	c.received += int64(n)
	return n, err
}

func (c *countingStream) Write(p []byte) (int, error) {
	n, err := c.s.Write(p)
	c.sent += int64(n)
	return n, err
}

func newCountingStream(s network.Stream) *countingStream {
	c := &countingStream{s: s}
	c.r = bufio.NewReaderSize(readerFunc(c.Read), 64<<10)
	return c
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func (c *countingStream) send(m proto.Message) error {
	_, err := protodelim.MarshalTo(c, m)
	return err
}

func (c *countingStream) recv(m proto.Message) error {
	return wire.ReadDelimitedFrom(c.r, m, maxMessage)
}
