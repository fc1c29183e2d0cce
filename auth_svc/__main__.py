from auth_svc.app import create_app
from chassis.runner import main

if __name__ == "__main__":
    main("auth_svc", create_app)
