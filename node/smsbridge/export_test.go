package smsbridge

// DecodeTextForTest decodes a gammu-smsd text file.
func DecodeTextForTest(b []byte) string { return decodeText(b) }
