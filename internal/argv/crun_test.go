package argv

import (
	"math/rand"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// crunWent matches what crun 1.8 prints once it has parsed the command
// line and goes for the bundle: realpath of a relative --config or
// bundle, chdir into the bundle, or loading config.json.
var crunWent = regexp.MustCompile("^(?:realpath `([^`]*)` failed|chdir `([^`]*)` failed|error loading config.json|load `config.json`)")

// TestCrunReadingMatchesCrun is the crun reading's oracle: the real crun
// on this machine, run over generated create and run lines in an empty
// directory with bundles that do not exist, so that it either stops at
// its command line (usage error, help, a wrong number of IDs) or reports
// the bundle or config file it went for. rro-runc's crun reading must say
// "creates" exactly when crun went for a bundle, and name the same one.
func TestCrunReadingMatchesCrun(t *testing.T) {
	crun, err := exec.LookPath("crun")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("crun not installed (e2e/setup.sh installs it): %v", err)
		}
		t.Skip("crun not installed")
	}
	dir := t.TempDir()
	words := []string{
		"--bundle", "-b", "-b/nx1", "-b=/nx2", "--bund", "--b=/nx3", "/nx4", "-d", "-db", "-dbX", "-dX",
		"--detach", "-f", "-fc.json", "--config", "--conf=c.json", "--pid-file", "--preserve-fds=1",
		"-h", "--help", "-?", "--usage", "--he", "--", "-", "ID", "ID2", "--no-pivot", "--no-p", "--n",
		"--c", "--co", "--keep", "--console-socket", "-bundle", "-help", "--help=1",
	}
	rng := rand.New(rand.NewSource(1))
	lines := [][]string{{"create", "-bX", "ID"}, {"run", "-db", "/nx", "ID"}, {"create", "--bund", "/nx", "ID"}}
	for len(lines) < 150 {
		line := []string{[]string{"create", "run"}[rng.Intn(2)]}
		for n := rng.Intn(5); n >= 0; n-- {
			line = append(line, words[rng.Intn(len(words))])
		}
		lines = append(lines, line)
	}
	went := map[bool]int{}
	defer func() {
		if went[true] < 10 || went[false] < 10 {
			t.Errorf("only %d lines created and %d did not: the generated lines test too little", went[true], went[false])
		}
	}()
	for _, line := range lines {
		args := append([]string{"--root", dir + "/state"}, line...)
		cmd := exec.Command(crun, args...)
		cmd.Dir = dir
		out, _ := cmd.CombinedOutput()
		m := crunWent.FindStringSubmatch(string(out))
		went[m != nil]++
		got, ok, _ := read(args, crunGlobals, crunCommand, false)
		if ok && m == nil && strings.Contains(string(out), "is ambiguous") {
			// The one known, deliberate difference: a prefix several
			// options share that take a value or not alike (--n) is read
			// as the first of them (see argpLong); crun 1.8.1 calls some
			// of these ambiguous and others (--r) not. Reading it as a
			// create can only rewrite a bundle crun then does not run.
			continue
		}
		if ok != (m != nil) {
			t.Errorf("crun %q: %q; rro-runc's crun reading creates=%v (%+v)", line, firstLine(out), ok, got)
			continue
		}
		if m == nil {
			continue
		}
		switch {
		case m[1] != "" && m[1] != got.ConfigFile && (got.ConfigFile != "" || m[1] != got.Bundle):
			t.Errorf("crun %q resolved %q; reading: bundle %q config %q", line, m[1], got.Bundle, got.ConfigFile)
		case m[2] != "" && m[2] != got.Bundle:
			t.Errorf("crun %q went to bundle %q; reading: %q", line, m[2], got.Bundle)
		case m[1] == "" && m[2] == "" && (got.Bundle != "" || got.ConfigFile != ""):
			t.Errorf("crun %q loaded ./config.json; reading: bundle %q config %q", line, got.Bundle, got.ConfigFile)
		}
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// runcWent matches runc 1.1 once it has accepted the command line and
// goes for the bundle: chdir into it, or config.json in the working
// directory.
var runcWent = regexp.MustCompile(`(?:create|run) failed: (?:chdir ([^:]*): no such file|JSON specification file config.json not found)`)

// TestRuncReadingMatchesRunc does the same against the real runc, the
// runtime the urfave/cli oracle of FuzzParse stands for.
func TestRuncReadingMatchesRunc(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("runc not installed (e2e/setup.sh installs it): %v", err)
		}
		t.Skip("runc not installed")
	}
	dir := t.TempDir()
	words := []string{
		"--bundle", "-b", "-b=/nx1", "--bundle=/nx2", "-bundle", "/nx3", "-d", "--detach", "--keep",
		"--pid-file", "--preserve-fds", "--preserve-fds=x", "7", "-h", "--help", "-help", "--help=false",
		"-h=1", "--", "-", "ID", "ID2", "--no-pivot", "--console-socket", "-bX", "--bund",
	}
	rng := rand.New(rand.NewSource(2))
	var lines [][]string
	for len(lines) < 120 {
		line := []string{[]string{"create", "run"}[rng.Intn(2)]}
		for n := rng.Intn(5); n >= 0; n-- {
			line = append(line, words[rng.Intn(len(words))])
		}
		lines = append(lines, line)
	}
	went := map[bool]int{}
	defer func() {
		if went[true] < 10 || went[false] < 10 {
			t.Errorf("only %d lines created and %d did not: the generated lines test too little", went[true], went[false])
		}
	}()
	for _, line := range lines {
		args := append([]string{"--root", dir + "/state"}, line...)
		cmd := exec.Command(runc, args...)
		cmd.Dir = dir
		out, _ := cmd.CombinedOutput()
		m := runcWent.FindStringSubmatch(string(out))
		went[m != nil]++
		got, ok, _ := read(args, runcGlobals, runcCommand, false)
		if ok != (m != nil) {
			t.Errorf("runc %q: %q; rro-runc's runc reading creates=%v (%+v)", line, firstLine(out), ok, got)
			continue
		}
		if m != nil && m[1] != got.Bundle {
			t.Errorf("runc %q went to bundle %q; reading: %q", line, m[1], got.Bundle)
		}
	}
}
