package main

import (
	"fmt"

	"github.com/stasima/stasima/pkg/fault"
)

// gatewayErr explains a silent bus: only a running gateway with the door armed answers.
func gatewayErr(err error) error {
	if fault.Is(err, fault.BackendUnavailable) {
		return fmt.Errorf("%w (is `stasima up` running with http_public_url set? the OAuth door lives in the gateway)", err)
	}
	return err
}
