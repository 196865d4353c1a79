from brook.cli.main import main

raise SystemExit(main())
