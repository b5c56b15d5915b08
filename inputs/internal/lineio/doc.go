// Package lineio holds what the line-based inputs (file, stdin) share: a
// splitter that cuts a byte stream into lines without copying them, and an
// allocator that hands out records in blocks.
//
// It imports engine only. The buffers it fills are never reused, because the
// records made from its lines keep sub-slices of them after their batch.
package lineio
