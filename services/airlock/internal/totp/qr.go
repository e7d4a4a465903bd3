package totp

import (
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// QRLevel is the error correction of the provisioning QR: Medium (15 %) keeps an otpauth URI
// of about 110 bytes at version 6 (41 modules), small enough for an 80-column terminal.
const QRLevel = qrcode.Medium

// RenderQR renders uri as a QR code for a terminal (O-totp-3): each text row holds two module
// rows drawn with the half blocks ' ', '▀', '▄' and '█', the quiet zone included, and ends in
// "\n". The polarity is the dark terminal's (1.0.0 printed its ASCII QR inverted for the same
// reason): a glyph's drawn half is a light module and the terminal's dark background shows
// the dark ones, so a phone reads it as printed dark-on-light. The text is the secret in
// another form; it is returned to the provisioning caller only and never logged.
func RenderQR(uri string) (string, error) {
	q, err := qrcode.New(uri, QRLevel)
	if err != nil {
		return "", fmt.Errorf("render totp qr: %w", err)
	}
	// ToSmallString(false) draws set (dark) modules as background: the dark-terminal polarity.
	return q.ToSmallString(false), nil
}
