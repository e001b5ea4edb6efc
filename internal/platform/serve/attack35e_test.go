package serve

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// TestAttack35eADeadlineSetDuringAWriteKeepsItsBound: progressConn gives
// each write the answer's time from its last progress, and passes a write
// deadline set while the write is blocked straight to the connection
// underneath: a deadline lifted then (SetWriteDeadline of the zero time,
// as answerDeadline and net/http's HTTP/1 server do, or one further off)
// took the bound from the write in flight, which against a peer that
// reads nothing then blocked for good, holding the connection and its
// place among MaxConnections (docs/SECURITY.md, the row of anyone who can
// open a connection: "a write that makes no progress for 30 s closes the
// connection"). net/http sets the deadline from the writing goroutine
// today, but a Handler's ResponseController may set it from any, and the
// wrapper's promise is that no write outlives its time without progress.
// Scaled: 300 ms.
func TestAttack35eADeadlineSetDuringAWriteKeepsItsBound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pl := progressListener{Listener: ln, d: 300 * time.Millisecond}
	peer, err := net.Dial("tcp", ln.Addr().String()) // reads nothing
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := pl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, lift := range []time.Time{{}, time.Now().Add(time.Hour)} {
		done := make(chan error, 1)
		go func() {
			_, err := c.Write(bytes.Repeat([]byte("x"), 64<<20)) // more than the kernel's buffers take
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		c.SetWriteDeadline(lift)
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("64 MiB written to a peer that reads nothing")
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("a write to a peer that reads nothing, its deadline set to %v while it was blocked (progress time 300 ms), was still blocked 3 s later", lift)
		}
	}
}
