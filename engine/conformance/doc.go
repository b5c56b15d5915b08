// Package conformance is the suite every input and every output runs: it
// holds components to the position and commit contract of ARCHITECTURE.md
// and to the lifecycle of engine/component.go.
//
// It owns two entry points and what they need:
//
//   - TestInput runs the input checks (records read back exactly, per
//     partition in order, in batches of one partition with a position;
//     positions that move forward; resuming from a position encoded as the
//     engine stores it; a prompt return when the context ends; Close twice
//     and without Start; tombstones) against an InputHarness;
//   - TestOutput runs the output checks (records written come back in order
//     with what the sink keeps of them; tombstones; asynchronous writes; a
//     prompt return from a cancelled write; Close twice, and Write after
//     Close) against an OutputHarness;
//   - DecodeLines and LineTombstone read back what the line codecs of the
//     file and stdout outputs write.
//
// A harness says how to make a fresh component (from YAML fields, with
// enginetest.ParseFields or the plugin's New), how to put records into its
// source or read them back from its sink, and what the component cannot
// do; the checks it cannot take part in are skipped, saying why. What a
// component can do is found from the interfaces it implements
// (engine.Resumer, engine.AsyncOutput), so a component that can do
// something is tested on it.
//
// The suite's own tests run it on fakes that keep the contract, and on each
// of a list of bugs put into them: each must make its check fail.
//
// Like engine/enginetest, it is test support: it is imported only by tests
// of components. It imports engine, config and the standard library, and
// never a component package.
package conformance
