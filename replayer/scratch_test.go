package replayer

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A scratch folder's check, run as a child process: it makes its folder
// under AEGIS_SCRATCH_PARENT, prints the folder's path and waits to be
// killed.
func TestMain(m *testing.M) {
	if parent := os.Getenv("AEGIS_SCRATCH_PARENT"); parent != "" {
		s := &scratch{parent: parent}
		if err := s.make(); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString(s.dir + "\n")
		time.Sleep(time.Minute)
		// Held to the end: unreachable, its lock file's finalizer could
		// close the file and free the lock while the "check" still runs
		// (the test then failed now and then, the live folder removed).
		runtime.KeepAlive(s)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startCheck starts a child holding a scratch folder under parent and
// returns it and the folder.
func startCheck(t *testing.T, parent string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AEGIS_SCRATCH_PARENT="+parent)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the child check made no folder: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// A check killed with SIGKILL cannot remove its scratch folder; the next
// check under the same parent does, and leaves alone the folder of a
// check still running, a recent folder without a lock file, what is not a
// folder, and folders named like a check's that no check made (holding
// other files, or not 0700): the outside trial lost a file that way.
func TestACheckRemovesTheScratchFoldersOfKilledChecks(t *testing.T) {
	parent := t.TempDir()
	killed, killedDir := startCheck(t, parent)
	_, liveDir := startCheck(t, parent)
	if err := os.WriteFile(filepath.Join(killedDir, "s3-keys-000001"), []byte("spilled keys"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := killed.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	killed.Wait()
	fresh := filepath.Join(parent, scratchPattern+"fresh") // a check between its folder and its lock
	old := filepath.Join(parent, scratchPattern+"old")     // a check from before the lock file
	for _, d := range []string{fresh, old} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	longAgo := time.Now().Add(-staleUnlocked - time.Hour)
	if err := os.Chtimes(old, longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(parent, scratchPattern+"file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Folders named like a check's, with a lock no one holds, that a
	// check did not make: one holding someone's file, one open to others
	// (a check makes its folder 0700).
	someones := filepath.Join(parent, scratchPattern+"mine")
	open := filepath.Join(parent, scratchPattern+"open")
	for _, d := range []string{someones, open} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, lockName), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(someones, "important.txt"), []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}

	s := &scratch{parent: parent}
	if err := s.make(); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{killedDir, old} {
		if exists(gone) {
			t.Errorf("%s is still there: its check is gone", gone)
		}
	}
	for _, kept := range []string{liveDir, fresh, file, s.dir, someones, open} {
		if !exists(kept) {
			t.Errorf("%s was removed: it belongs to a check that may be running, or is not a scratch folder", kept)
		}
	}

	// A check's own end removes its folder; the running child's stays.
	if err := s.remove(); err != nil {
		t.Fatal(err)
	}
	again := &scratch{parent: parent}
	if err := again.make(); err != nil {
		t.Fatal(err)
	}
	defer again.remove()
	if !exists(liveDir) {
		t.Errorf("%s was removed while its check runs", liveDir)
	}
}
