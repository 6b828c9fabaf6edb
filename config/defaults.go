package config

import "time"

// Default returns the configuration used when no file is given, and the
// base every file is decoded onto. Each call returns a new value.
//
// Stages, filters and databases have no defaults as a whole; the defaults
// of their keys, applied to each entry, are in defaultStage, defaultFilter
// and defaultDatabase below.
func Default() *Config {
	return &Config{
		Server: Server{
			Hostname:        "localhost",
			Listen:          []string{"127.0.0.1:2525"},
			MaxMessageBytes: 25 << 20,
			MaxRecipients:   100,
			MaxConnections:  1000,
			MaxLineLength:   1000,
			ReadTimeout:     Duration(5 * time.Minute),
			WriteTimeout:    Duration(5 * time.Minute),
			DataTimeout:     Duration(10 * time.Minute),
			RelayFrom:       []string{"127.0.0.0/8", "::1/128"},
		},
		Store: Store{
			Dir:   "data",
			Fsync: true,
		},
		Domains: Domains{
			Local:     []string{"localhost"},
			AcceptAll: true,
		},
		Relay: Relay{
			StartTLS: "opportunistic",
		},
		Queue: Queue{
			Workers:      4,
			RetryInitial: Duration(time.Minute),
			RetryMax:     Duration(time.Hour),
			MaxAge:       Duration(5 * day),
			BurstHold:    Duration(time.Second),
			OnExpire:     "bounce",
		},
		Engine: Engine{
			MaxPartBytes:   10 << 20,
			MaxStringBytes: 16 << 20,
			CallStack:      200,
		},
	}
}

// defaultStage returns the defaults of the keys of one [[stage]] entry.
func defaultStage() Stage {
	return Stage{
		Timeout: Duration(30 * time.Second),
		OnError: "tempfail",
	}
}

// defaultFilter returns the defaults of the keys of one [filter.NAME] table.
func defaultFilter() Filter {
	return Filter{
		Input:           "file",
		Timeout:         Duration(30 * time.Second),
		MaxConcurrent:   4,
		MaxWait:         Duration(5 * time.Second),
		MaxOutputBytes:  1 << 20,
		MaxBytes:        25 << 20,
		OnError:         "tempfail",
		BreakerFailures: 5,
		BreakerCooldown: Duration(30 * time.Second),
	}
}

// defaultDatabase returns the defaults of the keys of one [database.NAME]
// table.
func defaultDatabase() Database {
	return Database{
		MaxOpen:         4,
		MaxIdle:         2,
		ConnMaxLifetime: Duration(30 * time.Minute),
	}
}
