module github.com/stasima/stasima/cmd/stasima

go 1.26.8
