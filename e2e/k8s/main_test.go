//go:build k8s

package k8s

import (
	"testing"

	"github.com/rro-runc/rro-runc/e2e/internal/fixture"
)

func TestMain(m *testing.M) { fixture.Main(m) }
