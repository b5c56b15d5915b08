package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// tokenDecoder decodes JSON token by token with jsontext, the streaming
// layer of Go's coming encoding/json/v2: one pass, no reflection, numbers
// read as their literal. It is about twice as quick as json.Unmarshal into
// any on the small objects records and table rows are, which a join pays
// on every lookup.
type tokenDecoder struct {
	in  bytes.Reader
	dec *jsontext.Decoder
	// names holds the object member names read before, so that the same
	// names in record after record are one string each, not one apiece.
	names   map[string]string
	unquote []byte
}

// maxNames bounds a decoder's names: records whose names are data (a map
// keyed by user id) would otherwise grow it for good.
const maxNames = 4096

// Duplicate names (the last one wins) and invalid UTF-8 (replaced by
// U+FFFD) are accepted as encoding/json accepts them, so that the decoder
// takes exactly the documents json.Unmarshal takes.
var tokenDecoders = sync.Pool{New: func() any {
	d := &tokenDecoder{names: map[string]string{}}
	d.dec = jsontext.NewDecoder(&d.in, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	return d
}}

// decodeTokens decodes one JSON document, or reports !ok for anything it
// does not take; the caller then decodes it the slow way, which gives
// encoding/json's own error messages.
func decodeTokens(data []byte) (v any, ok bool) {
	d := tokenDecoders.Get().(*tokenDecoder)
	defer tokenDecoders.Put(d)
	d.in.Reset(data)
	d.dec.Reset(&d.in, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	v, err := d.value()
	if err != nil {
		return nil, false
	}
	if _, err := d.dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, false // more after the value
	}
	return v, true
}

func (d *tokenDecoder) value() (any, error) {
	switch d.dec.PeekKind() {
	case '0':
		literal, err := d.dec.ReadValue()
		if err != nil {
			return nil, err
		}
		return numberOf(literal), nil
	case '{':
		return d.object()
	case '[':
		return d.array()
	}
	tok, err := d.dec.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case '"':
		return tok.String(), nil
	case 't':
		return true, nil
	case 'f':
		return false, nil
	}
	return nil, nil // null
}

func (d *tokenDecoder) object() (any, error) {
	if _, err := d.dec.ReadToken(); err != nil {
		return nil, err
	}
	m := make(map[string]any)
	for d.dec.PeekKind() != '}' {
		key, err := d.name()
		if err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	_, err := d.dec.ReadToken()
	return m, err
}

// name reads an object member's name.
func (d *tokenDecoder) name() (string, error) {
	quoted, err := d.dec.ReadValue()
	if err != nil {
		return "", err
	}
	raw := quoted[1 : len(quoted)-1]
	if !plainASCII(raw) {
		// Invalid UTF-8 is replaced by U+FFFD, as encoding/json does; the
		// error saying so is no error here.
		d.unquote, _ = jsontext.AppendUnquote(d.unquote[:0], quoted)
		raw = d.unquote
	}
	if name, ok := d.names[string(raw)]; ok {
		return name, nil
	}
	name := string(raw)
	if len(d.names) < maxNames {
		d.names[name] = name
	}
	return name, nil
}

// plainASCII: no escape and no byte beyond ASCII, so the JSON string's
// bytes between the quotes are its value.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

func (d *tokenDecoder) array() (any, error) {
	if _, err := d.dec.ReadToken(); err != nil {
		return nil, err
	}
	a := []any{}
	for d.dec.PeekKind() != ']' {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	_, err := d.dec.ReadToken()
	return a, err
}

// numberOf is a valid JSON number literal's value (see exactNumber); plain
// integers of up to 18 digits, the common case, are read without a string.
func numberOf(literal []byte) any {
	digits, neg := literal, false
	if digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	if len(digits) <= 18 {
		var n int64
		for _, c := range digits {
			if c < '0' || c > '9' {
				return exactNumber(json.Number(literal))
			}
			n = n*10 + int64(c-'0')
		}
		switch {
		case !neg:
			return n
		case n == 0:
			return math.Copysign(0, -1)
		}
		return -n
	}
	return exactNumber(json.Number(literal))
}
