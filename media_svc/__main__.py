from chassis.runner import main
from media_svc.app import create_app

if __name__ == "__main__":
    main("media_svc", create_app)
