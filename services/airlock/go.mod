module github.com/stasima/stasima/services/airlock

go 1.26.8
