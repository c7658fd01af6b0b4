-- qg_listen_control: pause, resume and cancel requests for qg-cpp pools.
LISTEN qg_control
