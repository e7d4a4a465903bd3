package door

import (
	"html/template"
	"net/http"
)

// pageData fills the approve page (I-64). html/template escapes every value (&, <, >, " and
// more), so a client name cannot inject markup.
type pageData struct {
	Txn, Client, Redirect, Error string
	// Refresh re-polls the page every 2 s so a console approval is followed (SC-17); off when an
	// error is shown.
	Refresh bool
}

var approveTmpl = template.Must(template.New("approve").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
{{if .Refresh}}<meta http-equiv="refresh" content="2">{{end}}
<title>Approve a connector — Stasima</title></head>
<body>
<h1>Approve a connector</h1>
<p>A client asks to connect to this Stasima deployment as the practitioner.</p>
<p>Client: <strong>{{.Client}}</strong></p>
<p>If you approve, the authorization code will be sent to exactly this redirect URI:<br><code>{{.Redirect}}</code></p>
<p>Enter the current code from your authenticator app — the same one that gates canon — or approve from the console with <code>stasima admin oauth pending</code> and <code>stasima admin oauth approve</code>.</p>
<p>If you did not start this, or the client or redirect URI is not what you expect, close this page.</p>
{{if .Error}}<p role="alert"><strong>{{.Error}}</strong></p>{{end}}
<form method="post" action="/approve">
<input type="hidden" name="txn" value="{{.Txn}}">
<label>Code <input name="code" inputmode="numeric" autocomplete="one-time-code" autofocus></label>
<button type="submit">Approve</button>
</form>
</body></html>
`))

func renderApprove(w http.ResponseWriter, code int, p pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = approveTmpl.Execute(w, p)
}
