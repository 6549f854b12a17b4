// Package errlog reports rro-runc's own failures where the caller of a
// runc-compatible runtime looks for them.
//
// containerd's shim shows the last line of the --log file whose level is
// "error", decoded as JSON; Podman (conmon) reads the file as one JSON
// object. So a failure appends exactly one line in the runtime's own
// --log-format (logrus, as runc writes it), and success writes nothing.
// Without a usable log file, or with crun's journald:/syslog: targets, the
// line goes to stderr. The message always goes to stderr as well, as one
// plain line for the human at a terminal; stdout is never touched.
package errlog

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
)

// Report writes msg once to stderr and once to the log target. stderr
// comes first and the log is opened non-blocking, so a FIFO with no
// reader where the log belongs cannot swallow the message or hang the call.
func Report(logTarget, format, msg string) {
	fmt.Fprintln(os.Stderr, msg)
	path, isFile := filePath(logTarget)
	if !isFile {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rro-runc: cannot open log file %s: %v\n", path, err)
		return
	}
	write(f, format, msg)
	f.Close()
}

// filePath interprets runc's --log PATH and crun's --log=file:PATH.
func filePath(target string) (string, bool) {
	switch {
	case target == "":
		return "", false
	case strings.HasPrefix(target, "file:"):
		return strings.TrimPrefix(target, "file:"), true
	case strings.HasPrefix(target, "journald:"), strings.HasPrefix(target, "syslog:"):
		return "", false
	}
	return target, true
}

func write(w io.Writer, format, msg string) {
	l := logrus.New()
	l.Out = w
	if format == "json" {
		l.Formatter = &logrus.JSONFormatter{}
	} else {
		l.Formatter = &logrus.TextFormatter{DisableColors: true, FullTimestamp: true}
	}
	l.Error(msg)
}
