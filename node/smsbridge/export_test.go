package smsbridge

// DecodeTextForTest decodes a gammu-smsd text file.
func DecodeTextForTest(b []byte) string { return decodeText(b) }

// OnReady sets a function told the webhook's address once it listens.
func (g *Gateway) OnReady(f func(string)) { g.ready = f }
