package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/aegisai/audit/query"
)

// jsonLines marks (cmd.Annotations) a command whose --json output is JSON
// Lines, one object per result: its failure is always a last line.
const jsonLines = "json-lines"

// countingWriter counts what a command wrote to standard output.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// jsonFailure writes the failure of a command run with --json as one JSON
// object on standard output, {"ok":false,"error":"...","exit_status":N}, so
// that a script that reads standard output gets an answer with the exit
// status: after a JSON Lines command's lines always, and for a command
// that answers one object unless it printed its own (verify's report
// carries its failure).
func jsonFailure(cmd *cobra.Command, w io.Writer, out *countingWriter, err error, status int) {
	if cmd == nil {
		return
	}
	f := cmd.Flags().Lookup("json")
	if f == nil || f.Value.String() != "true" {
		return
	}
	if out.n > 0 && cmd.Annotations[jsonLines] == "" {
		return
	}
	failure := struct {
		OK         bool   `json:"ok"`
		Error      string `json:"error"`
		ExitStatus int    `json:"exit_status"`
		// A decision not found: what the index holds of it elsewhere.
		*query.NotFoundError
	}{OK: false, Error: err.Error(), ExitStatus: status}
	errors.As(err, &failure.NotFoundError)
	b, _ := json.Marshal(failure)
	fmt.Fprintf(w, "%s\n", b)
}

// oneArg is cobra.ExactArgs(1) with a message that names the argument and
// shows the usage line.
func oneArg(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		return nil
	}
	return fmt.Errorf("want one argument, got %d: usage: %s", len(args), cmd.UseLine())
}
