from chassis.runner import main
from persona_svc.app import create_app

if __name__ == "__main__":
    main("persona_svc", create_app)
