package main

func configHelp() string { return "TODO" }
