// Package luapattern matches Lua 5.1 patterns (string.find, match, gmatch,
// gsub) without letting a hostile pattern hang or crash its caller.
//
// It is a fork of gopher-lua's pm package (MIT License, see LICENSE) and
// finds the same matches, with the same errors, for every pattern pm
// handles; FuzzSameAsPM and TestSameAsPM compare the two. What changed:
//
//   - The matcher is a loop over an explicit backtracking stack instead of
//     Go recursion (pm recursed once per character under '*' and gave up at
//     a million). The stack holds at most one entry per instruction.
//   - It counts its steps (instructions run, bytes scanned) and calls a
//     check function every CheckEvery steps; the check's error, typically
//     ctx.Err, stops the match. Exponential patterns such as
//     ".-.-.-.-.-b" thus stop with their caller's deadline.
//   - Captures nested deeper than MaxDepth, or patterns of more than
//     MaxItems items, fail with ErrTooComplex ("pattern too complex").
//   - %f[set] frontiers work, as in PUC Lua (pm read %f as a literal 'f').
//   - A back-reference to a capture that is not closed yet is an "invalid
//     capture index" error (pm crashed or read stale positions); a negative
//     offset counts as 0.
//   - Classes compile to byte sets, and patterns without magic characters
//     are matched with bytes.Index. Compiled patterns are cached.
//
// The parser and the matching order (greedy '*', '+', '?', lazy '-', the
// positions tried by Find) are pm's.
package luapattern
