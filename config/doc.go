// Package config is the sol.conf schema (TOML), its defaults and validation.
package config
