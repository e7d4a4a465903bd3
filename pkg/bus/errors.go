package bus

import (
	"errors"

	"github.com/stasima/stasima/pkg/fault"
)

func asFault(err error, target **fault.Error) bool { return errors.As(err, target) }
