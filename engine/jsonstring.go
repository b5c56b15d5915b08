package engine

import (
	"unicode/utf8"
	"unsafe"
)

const hex = "0123456789abcdef"

// AppendJSONString appends s as a JSON string without allocating. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; HTML characters are not escaped.
func AppendJSONString(buf, s []byte) []byte {
	// The escaper only reads s, so viewing the bytes as a string is safe and saves a copy.
	return appendJSONString(buf, unsafe.String(unsafe.SliceData(s), len(s)), false)
}

// appendMarshalString writes s as json.Marshal does: <, > and & escaped for HTML.
func appendMarshalString(buf []byte, s string) []byte {
	return appendJSONString(buf, s, true)
}

// appendJSONString is the one JSON string escaper: control characters, quote and backslash
// escaped as encoding/json escapes them, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped
// (JavaScript treats them as line ends), and <, > and & only when escapeHTML is set.
func appendJSONString(buf []byte, s string, escapeHTML bool) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!escapeHTML || (c != '<' && c != '>' && c != '&')) {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			buf = appendEscapedASCII(buf, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

func appendEscapedASCII(buf []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(buf, '\\', c)
	case '\b':
		return append(buf, '\\', 'b')
	case '\f':
		return append(buf, '\\', 'f')
	case '\n':
		return append(buf, '\\', 'n')
	case '\r':
		return append(buf, '\\', 'r')
	case '\t':
		return append(buf, '\\', 't')
	}
	return append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
}
