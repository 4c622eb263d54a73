from jlangevin.cli import main

raise SystemExit(main())
