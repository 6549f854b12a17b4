package argv

import (
	"math/rand"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// againstRuntime runs the real runtime over lines of create or run and
// up to seven words (the first lines given, then generated from seed, 100
// in all: enough for both outcomes many times over, at a few seconds),
// with a private --root, in an empty working directory and with bundles
// that do not exist: the runtime either stops at its command line (usage
// error, help, a wrong number of IDs) or names the bundle or config file
// it went for. check compares one answer with rro-runc's reading, given
// the arguments, and reports whether the runtime went for a bundle; both
// outcomes must occur often enough for the comparison to mean something.
func againstRuntime(t *testing.T, runtime string, words []string, seed int64, lines [][]string,
	check func(args []string, line []string, out string) (went bool)) {
	bin, err := exec.LookPath(runtime)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (e2e/setup.sh installs it): %v", runtime, err)
		}
		t.Skipf("%s not installed", runtime)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(seed))
	for len(lines) < 100 {
		line := []string{[]string{"create", "run"}[rng.Intn(2)]}
		for n := rng.Intn(5); n >= 0; n-- {
			line = append(line, words[rng.Intn(len(words))])
		}
		if rng.Intn(2) == 0 {
			line = append(line, "ID") // most lines that create end so
		}
		lines = append(lines, line)
	}
	went := map[bool]int{}
	for _, line := range lines {
		args := append([]string{"--root", dir + "/state"}, line...)
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, _ := cmd.CombinedOutput()
		went[check(args, line, string(out))]++
	}
	if went[true] < 10 || went[false] < 10 {
		t.Errorf("only %d lines created and %d did not: the generated lines test too little", went[true], went[false])
	}
}

// crunWent matches what crun 1.8 prints once it has parsed the command
// line and goes for the bundle: realpath of a relative --config or
// bundle, chdir into the bundle, or loading config.json.
var crunWent = regexp.MustCompile("^(?:realpath `([^`]*)` failed|chdir `([^`]*)` failed|error loading config.json|load `config.json`)")

// TestCrunReadingMatchesCrun is the crun reading's oracle: the real crun.
// rro-runc's crun reading must say "creates" exactly when crun went for a
// bundle, and name the same one.
func TestCrunReadingMatchesCrun(t *testing.T) {
	words := []string{
		"--bundle", "-b", "-b/nx1", "-b=/nx2", "--bund", "--b=/nx3", "/nx4", "-d", "-db", "-dbX", "-dX",
		"--detach", "-f", "-fc.json", "--config", "--conf=c.json", "--pid-file", "--preserve-fds=1",
		"-h", "--help", "-?", "--usage", "--he", "--", "-", "ID", "ID2", "--no-pivot", "--no-p", "--n",
		"--c", "--co", "--keep", "--console-socket", "-bundle", "-help", "--help=1",
	}
	first := [][]string{{"create", "-bX", "ID"}, {"run", "-db", "/nx", "ID"}, {"create", "--bund", "/nx", "ID"}}
	againstRuntime(t, "crun", words, 1, first, func(args, line []string, out string) bool {
		m := crunWent.FindStringSubmatch(out)
		got, ok, _ := read(args, crunGlobals, crunCommand, false)
		switch {
		case ok && m == nil && strings.Contains(out, "is ambiguous"):
			// The one known, deliberate difference: a prefix several
			// options share that take a value or not alike (--n) is read
			// as the first of them (see argpLong); crun 1.8.1 calls some
			// of these ambiguous and others (--r) not. Reading it as a
			// create can only rewrite a bundle crun then does not run.
		case ok && m == nil && strings.Contains(out, "unrecognized option '--keep'"):
			// The other: options later crun releases added (run --keep)
			// are in the tables, so this crun 1.8.1 rejects a line the
			// reading takes for a create. Again only the safe side.
		case ok != (m != nil):
			t.Errorf("crun %q: %q; rro-runc's crun reading creates=%v (%+v)", line, firstLine(out), ok, got)
		case m == nil:
		case m[1] != "" && m[1] != got.ConfigFile && (got.ConfigFile != "" || m[1] != got.Bundle):
			t.Errorf("crun %q resolved %q; reading: bundle %q config %q", line, m[1], got.Bundle, got.ConfigFile)
		case m[2] != "" && m[2] != got.Bundle:
			t.Errorf("crun %q went to bundle %q; reading: %q", line, m[2], got.Bundle)
		case m[1] == "" && m[2] == "" && (got.Bundle != "" || got.ConfigFile != ""):
			t.Errorf("crun %q loaded ./config.json; reading: bundle %q config %q", line, got.Bundle, got.ConfigFile)
		}
		return m != nil
	})
}

// runcWent matches runc 1.1 once it has accepted the command line and
// goes for the bundle: chdir into it, or config.json in the working
// directory.
var runcWent = regexp.MustCompile(`(?:create|run) failed: (?:chdir ([^:]*): no such file|JSON specification file config.json not found)`)

// TestRuncReadingMatchesRunc does the same against the real runc, the
// runtime the urfave/cli oracle of FuzzParse stands for.
func TestRuncReadingMatchesRunc(t *testing.T) {
	words := []string{
		"--bundle", "-b", "-b=/nx1", "--bundle=/nx2", "-bundle", "/nx3", "-d", "--detach", "--keep",
		"--pid-file", "--preserve-fds", "--preserve-fds=x", "7", "-h", "--help", "-help", "--help=false",
		"-h=1", "--", "-", "ID", "ID2", "--no-pivot", "--console-socket", "-bX", "--bund",
	}
	againstRuntime(t, "runc", words, 2, nil, func(args, line []string, out string) bool {
		m := runcWent.FindStringSubmatch(out)
		got, ok, _ := read(args, runcGlobals, runcCommand, false)
		switch {
		case ok != (m != nil):
			t.Errorf("runc %q: %q; rro-runc's runc reading creates=%v (%+v)", line, firstLine(out), ok, got)
		case m != nil && m[1] != got.Bundle:
			t.Errorf("runc %q went to bundle %q; reading: %q", line, m[1], got.Bundle)
		}
		return m != nil
	})
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
