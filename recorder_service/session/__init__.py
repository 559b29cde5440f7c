"""The decisions of a recording session, as pure functions the runner calls: what an ffmpeg
log line says (``ffmpeg_log``), whether and when to restart ffmpeg (``restart``), and where a
restarted ffmpeg picks up (``resume_plan``). None of them touches a process, a clock or the
network: they are tested as tables."""
