//go:build k8s

package k8s

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// command runs argv to completion within timeout and returns its stdout;
// on failure the error carries stderr too.
func command(timeout time.Duration, env []string, stdin string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.String(), fmt.Errorf("%s: did not finish within %v; stderr: %s", strings.Join(argv, " "), timeout, errb.String())
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s: %v: %s%s", strings.Join(argv, " "), err, errb.String(), out.String())
	}
	return out.String(), nil
}
