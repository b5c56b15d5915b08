// Package encode turns records into the bytes the line-oriented outputs
// (file, stdout) write: the codecs lines, json_lines and envelope, and the
// codec field they share.
//
// It imports engine and config only.
package encode
